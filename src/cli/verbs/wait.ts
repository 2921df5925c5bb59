import type { Command } from "@commander-js/extra-typings";
import type { ContainerState } from "../../container/state.js";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption, nameOption, parseIntArg, target } from "../common.js";

export function register(program: Command): void {
  program
    .command("wait")
    .description("wait until a container reaches one of the given states")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .requiredOption("-s, --state <states>", "states to wait for, e.g. 'RUNNING|STOPPED'")
    .option(
      "-t, --timeout <seconds>",
      "give up after this many seconds (-1: never)",
      parseIntArg("timeout"),
      -1,
    )
    .argument("[name]")
    .action(async (name, opts) => {
      const { STATES, waitState } = await import("../../container/wait.js");
      const states = opts.state.split("|").map((s) => s.trim().toUpperCase());
      for (const s of states) {
        if (!(STATES as readonly string[]).includes(s)) {
          throw new LxtError("usage", `wait: unknown state "${s}" (known: ${STATES.join(", ")})`);
        }
      }
      const { ctx, paths } = target(opts, name);
      const reached = await waitState(ctx, paths, states as ContainerState[], opts.timeout);
      if (!reached) throw new LxtError("timeout", `wait: timed out after ${opts.timeout} s`);
    });
}
