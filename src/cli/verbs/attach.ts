import type { Command } from "@commander-js/extra-typings";
import { collect, lxcpathOption, nameOption, parseIntArg, targetAndCommand } from "../common.js";
import { CLI_STDIO, cliCaller } from "../context.js";
import { phase } from "../phases.js";

export function register(program: Command): void {
  program
    .command("attach")
    .description("run a command in a running container and exit with its exit code")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("--clear-env", "start from a clean environment (the default)")
    .option("--keep-env", "pass this environment through")
    .option(
      "-v, --set-var <VAR=val>",
      "set a variable (VAR alone copies it from here) (repeatable)",
      collect,
      [] as string[],
    )
    .option("-u, --uid <uid>", "user id to run as", parseIntArg("uid"))
    .option("-g, --gid <gid>", "group id to run as", parseIntArg("gid"))
    .option("--cwd <dir>", "working directory inside the container")
    .passThroughOptions()
    .argument("[command...]", "after --: the command (default: /bin/sh)")
    .action(async (args, opts) => {
      const { attachContainer } = await import("../../container/attach.js");
      phase("verb loaded");
      const { ctx, paths, argv } = targetAndCommand(opts, args);
      process.exitCode = await attachContainer(ctx, paths, {
        argv: argv.length > 0 ? argv : ["/bin/sh"],
        keepEnv: !!opts.keepEnv && !opts.clearEnv,
        setEnv: opts.setVar,
        uid: opts.uid,
        gid: opts.gid,
        cwd: opts.cwd,
        pty: process.stdin.isTTY === true,
        caller: cliCaller(),
        stdio: CLI_STDIO,
      });
    });
}
