import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption } from "../common.js";

/** `lxt move NAME REMOTE:[NEWNAME]`: a container sent to a remote lxtd, then removed here. */
export function register(program: Command): void {
  program
    .command("move")
    .description(
      "move a container to a remote lxtd (lxt remote add): stopped by archive, running by checkpoint and restore",
    )
    .addOption(lxcpathOption())
    .option("-q, --quiet", "no progress line")
    .option(
      "-v, --verbose",
      "to a remote: print the bytes sent and how long a running container was stopped",
    )
    .option(
      "--lazy",
      "a running container by post-copy (CRIU lazy pages): it runs there before its memory is over, fetched from here",
    )
    .argument("<name>", "the container here")
    .argument("<target>", "REMOTE:[NEWNAME] (the same name when none)")
    .action(async (name, dest, opts) => {
      const { remoteTransfer } = await import("../migrate-verb.js");
      await remoteTransfer("move", name, dest, opts);
    });
}
