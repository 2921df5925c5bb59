import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { writeOut } from "../output.js";

/** `setup-host`: what the first unprivileged start would prepare, done now (the package's postinst runs it). */
export function register(program: Command): void {
  program
    .command("setup-host")
    .description(
      "prepare this host for unprivileged containers: give root a subordinate uid and gid range in /etc/subuid and /etc/subgid when it has none, as the first unprivileged start would",
    )
    .addOption(lxcpathOption())
    .option("-q, --quiet", "print nothing when nothing was added")
    .action(async (opts) => {
      const { prepareRootSubids } = await import("../../container/userns.js");
      const { uids, gids, notes } = await prepareRootSubids(cliContext(opts));
      const list = (rs: typeof uids) => rs.map((r) => `${r.start}:${r.count}`).join(", ");
      for (const n of notes) writeOut(`${n}\n`);
      if (notes.length > 0 || !opts.quiet)
        writeOut(`root's subordinate uids: ${list(uids)}; gids: ${list(gids)}\n`);
    });
}
