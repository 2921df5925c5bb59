import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, parseIntArg, targetPaths } from "../common.js";
import { phase } from "../phases.js";

export function register(program: Command): void {
  program
    .command("stop")
    .description("stop a container: lxc.signal.halt, then SIGKILL after the timeout")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-k, --kill", "kill at once (SIGKILL) instead of a clean shutdown")
    .option(
      "-t, --timeout <seconds>",
      "seconds to wait for a clean shutdown (-1: forever)",
      parseIntArg("timeout"),
      60,
    )
    .argument("[name]")
    .action(async (name, opts) => {
      const { reapIfEphemeral } = await import("../../container/ephemeral.js");
      const { haltSignal } = await import("../../container/launch-input.js");
      const { stopContainer } = await import("../../container/stop.js");
      phase("verb loaded");
      const paths = targetPaths(opts, name);
      await stopContainer(paths, {
        kill: opts.kill,
        timeout: opts.timeout,
        haltSignal: haltSignal(paths),
      });
      await reapIfEphemeral(paths);
    });
}
