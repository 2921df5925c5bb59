import type { Command } from "@commander-js/extra-typings";
import { DEFAULT_RUNDIR } from "../../container/paths.js";
import { lxcpathOption } from "../common.js";
import { resolveLxcpath } from "../context.js";
import { writeOut } from "../output.js";

/**
 * `lxt __complete KIND [CONTAINER]`: the names the shell completion scripts
 * offer (dist/completion, scripts/completion), one per line. Hidden: it is
 * the scripts' interface, not a person's. Builds no context (no helper is
 * looked for): the state root and the runtime directory are all it reads.
 */
export function register(program: Command): void {
  program
    .command("__complete", { hidden: true })
    .description(
      "names for shell completion: containers, running, stopped, snapshots, images, networks, keys",
    )
    .addOption(lxcpathOption())
    .argument("<kind>")
    .argument("[container]")
    .action(async (kind, container, opts) => {
      const { completionWords } = await import("../../container/complete.js");
      const where = {
        lxcpath: resolveLxcpath(opts.lxcpath),
        runDir: process.env.LXT_RUNDIR || DEFAULT_RUNDIR,
      };
      const words = await completionWords(where, kind, container);
      if (words.length > 0) writeOut(`${words.join("\n")}\n`);
    });
}
