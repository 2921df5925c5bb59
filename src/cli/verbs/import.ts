import type { Command } from "@commander-js/extra-typings";
import { resolveLxcpath } from "../../container/paths.js";
import { lxcpathOption } from "../common.js";
import { withProgress } from "../progress.js";
import { sweepAndReport } from "../sweep.js";

export function register(program: Command): void {
  program
    .command("import")
    .description("make a container from an `lxt export` tarball (lxc import)")
    .addOption(lxcpathOption())
    .option(
      "-B, --bdev <backend>",
      "storage backend: dir, btrfs, overlay, or best (the default; zfs: not yet)",
    )
    .option("-q, --quiet", "no progress line")
    .argument("<file>", "the tarball")
    .argument("[name]", "the new container's name (default: the exported one)")
    .action(async (file, name, opts) => {
      const { importContainer } = await import("../../container/backup.js");
      const lxcpath = resolveLxcpath(opts.lxcpath);
      await sweepAndReport(lxcpath);
      await withProgress(opts, (progress) =>
        importContainer(file, lxcpath, name, { backend: opts.bdev, progress }),
      );
    });
}
