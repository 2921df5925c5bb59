import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, target } from "../common.js";

/** `freeze` and `unfreeze`, as lxc-freeze and lxc-unfreeze. */
export function register(program: Command): void {
  for (const [verb, frozen, what] of [
    ["freeze", true, "freeze every process of a running container (its cgroup freezer)"],
    ["unfreeze", false, "thaw a frozen container"],
  ] as const) {
    program
      .command(verb)
      .description(what)
      .addOption(nameOption())
      .addOption(lxcpathOption())
      .argument("[name]")
      .action(async (name, opts) => {
        const { freezeContainer } = await import("../../container/resources.js");
        const { ctx, paths } = target(opts, name);
        await freezeContainer(ctx, paths, frozen);
      });
  }
}
