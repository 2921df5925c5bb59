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
    .argument("[name]")
    .action(async (name, opts) => {
      const { destroyContainer } = await import("../../container/destroy.js");
      const { ctx, paths } = target(opts, name);
      await destroyContainer(ctx, paths, {
        force: opts.force,
        snapshots: opts.snapshots,
      });
    });
}
