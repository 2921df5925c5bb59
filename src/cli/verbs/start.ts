import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { bulkTargets, eachTarget } from "../bulk.js";
import { collect, lxcpathOption } from "../common.js";
import { CLI_STDIO, cliCaller } from "../context.js";
import { phase } from "../phases.js";

export function register(program: Command): void {
  program
    .command("start")
    .description("start containers (in the background unless -F), one after the other")
    .option("-n, --name <name>", "container name (repeatable)", collect, [] as string[])
    .option("--all", "every stopped container of the state root")
    .addOption(lxcpathOption())
    .option("-d, --daemon", "run in the background (the default)")
    .option(
      "-F, --foreground",
      "run in the foreground, the console on this terminal (one container)",
    )
    .option(
      "-s, --define <key=value>",
      "set a config key for this start only (repeatable)",
      collect,
      [] as string[],
    )
    .argument("[names...]")
    .action(async (names, opts) => {
      const { startContainer } = await import("../../container/start.js");
      phase("verb loaded");
      const foreground = !!opts.foreground && !opts.daemon;
      const { ctx, targets } = await bulkTargets("start", opts, names, (s) => s === "STOPPED");
      if (foreground && (opts.all || targets.length > 1)) {
        throw new LxtError("usage", "start -F: runs one container in the foreground, not several");
      }
      await eachTarget("start", targets, async (paths, many) => {
        const started = await startContainer(ctx, paths, {
          caller: cliCaller(),
          ...(foreground ? { foreground: CLI_STDIO } : {}),
          defines: opts.define ?? [],
        });
        const who = many ? `${paths.name}: ` : "";
        for (const w of started.warnings) process.stderr.write(`lxt: warning: ${who}${w}\n`);
        if (started.exited) process.exitCode = await started.exited;
      });
    });
}
