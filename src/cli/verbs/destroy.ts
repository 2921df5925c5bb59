import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, target } from "../common.js";

export function register(program: Command): void {
  program
    .command("destroy")
    .description("destroy a container (refuses a running one unless -f)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-f, --force", "kill a running container first")
    .option("-s, --snapshots", "destroy its snapshots too")
    .option(
      "--if-ephemeral",
      "only if it is a stopped ephemeral container, else do nothing (what its monitor runs when it stops)",
    )
    .argument("[name]")
    .action(async (name, opts) => {
      const { ctx, paths } = target(opts, name);
      if (opts.ifEphemeral) {
        const { reapIfEphemeral } = await import("../../container/ephemeral.js");
        await reapIfEphemeral(ctx, paths);
        return;
      }
      const { destroyContainer } = await import("../../container/destroy.js");
      await destroyContainer(ctx, paths, {
        force: opts.force,
        snapshots: opts.snapshots,
      });
    });
}
