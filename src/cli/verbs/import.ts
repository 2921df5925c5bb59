import type { Command } from "@commander-js/extra-typings";
import { resolveLxcpath } from "../../container/paths.js";
import { lxcpathOption } from "../common.js";

export function register(program: Command): void {
  program
    .command("import")
    .description("make a container from an `lxt export` tarball (lxc import)")
    .addOption(lxcpathOption())
    .option("-B, --bdev <backend>", "storage backend: dir, btrfs, overlay, or best (the default)")
    .argument("<file>", "the tarball")
    .argument("[name]", "the new container's name (default: the exported one)")
    .action(async (file, name, opts) => {
      const { importContainer } = await import("../../container/backup.js");
      await importContainer(file, resolveLxcpath(opts.lxcpath), name, { backend: opts.bdev });
    });
}
