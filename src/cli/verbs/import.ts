import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption } from "../common.js";
import { cliCaller, cliContext } from "../context.js";
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
      const { importContainer } = await import("../../container/backup-import.js");
      const ctx = cliContext(opts);
      await sweepAndReport(ctx);
      await withProgress(opts, (progress) =>
        importContainer(ctx, file, name, { backend: opts.bdev, progress, caller: cliCaller() }),
      );
    });
}
