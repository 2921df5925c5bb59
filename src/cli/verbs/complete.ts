import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption } from "../common.js";
import { completionWhere } from "../complete-entry.js";
import { writeOut } from "../output.js";

/**
 * `lxt __complete KIND [CONTAINER]`: the names the shell completion scripts
 * offer (dist/completion, scripts/completion), one per line. Hidden: it is
 * the scripts' interface, not a person's. Builds no context (no helper is
 * looked for): the state root and the runtime directory are all it reads.
 * The loader answers most kinds before this bundle loads
 * (src/cli/complete-entry.ts); this verb answers the rest, and every
 * command line that one does not take.
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
      const words = await completionWords(
        completionWhere(opts.lxcpath, process.env),
        kind,
        container,
      );
      if (words.length > 0) writeOut(`${words.join("\n")}\n`);
    });
}
