import type { Command } from "@commander-js/extra-typings";
import { LAZY_REFUSED } from "../../container/migrate.js";
import { LxtError } from "../../core/errors.js";
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
      "post-copy (CRIU lazy pages): refused, lxt's move does not drive it yet (docs/migrate.md)",
    )
    .argument("<name>", "the container here")
    .argument("<target>", "REMOTE:[NEWNAME] (the same name when none)")
    .action(async (name, dest, opts) => {
      if (opts.lazy) throw new LxtError("unsupported", `move ${name}: --lazy: ${LAZY_REFUSED}`);
      const { remoteTransfer } = await import("../migrate-verb.js");
      await remoteTransfer("move", name, dest, opts);
    });
}
