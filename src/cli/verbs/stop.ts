import type { Command } from "@commander-js/extra-typings";
import { bulkTargets, eachTarget } from "../bulk.js";
import { collect, lxcpathOption, parseIntArg } from "../common.js";
import { cliCaller } from "../context.js";
import { phase } from "../phases.js";

/** signal(7) SIGKILL: what `-k` sends, so the container's config is not read for its halt signal. */
const SIGKILL = 9;

export function register(program: Command): void {
  program
    .command("stop")
    .description("stop containers: lxc.signal.halt, then SIGKILL after the timeout")
    .option("-n, --name <name>", "container name (repeatable)", collect, [] as string[])
    .option("--all", "every running container of the state root")
    .addOption(lxcpathOption())
    .option("-k, --kill", "kill at once (SIGKILL) instead of a clean shutdown")
    .option(
      "-t, --timeout <seconds>",
      "seconds to wait for a clean shutdown (-1: forever)",
      parseIntArg("timeout"),
      60,
    )
    .argument("[names...]")
    .action(async (names, opts) => {
      const { reapIfEphemeral } = await import("../../container/ephemeral.js");
      const { stopContainer } = await import("../../container/stop.js");
      phase("verb loaded");
      const { ctx, targets } = await bulkTargets("stop", opts, names, (s) => s !== "STOPPED");
      await eachTarget("stop", targets, async (paths) => {
        // The halt signal is in the container's config: read only when it is sent.
        const haltSignal = opts.kill
          ? SIGKILL
          : (await import("../../container/launch-input.js")).haltSignal(paths, cliCaller().env);
        await stopContainer(ctx, paths, { kill: opts.kill, timeout: opts.timeout, haltSignal });
        await reapIfEphemeral(ctx, paths);
      });
    });
}
