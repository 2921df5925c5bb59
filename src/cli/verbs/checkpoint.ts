import { resolve } from "node:path";
import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption, nameOption, target } from "../common.js";
import { cliCaller } from "../context.js";
import { writeOut } from "../output.js";

/** `checkpoint` (lxc-checkpoint's flags) and `restore` (= `checkpoint -r`). docs/checkpoint.md. */
export function register(program: Command): void {
  const restore = async (
    opts: { name?: string; lxcpath?: string; dir?: string; verbose?: boolean },
    name?: string,
  ) => {
    const { restoreContainer } = await import("../../container/restore.js");
    const { ctx, paths } = target(opts, name);
    const r = await restoreContainer(ctx, paths, {
      dir: requireDir(opts.dir, "restore"),
      verbose: !!opts.verbose,
      caller: cliCaller(),
    });
    for (const w of r.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
    if (opts.verbose) writeOut(`restored ${paths.name} in ${Math.round(r.restoreMs)} ms\n`);
  };
  program
    .command("checkpoint")
    .description("dump a running container with CRIU (-r: restore it), as lxc-checkpoint")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-D, --checkpoint-dir <dir>", "the directory CRIU's images go to (or come from)")
    .option("-s, --stop", "stop the container after the dump (else it keeps running)")
    .option("-r, --restore", "restore the container from the directory")
    .option("-v, --verbose", "CRIU's most verbose log; print the time taken")
    .argument("[name]")
    .action(async (name, opts) => {
      if (opts.restore) {
        if (opts.stop) throw new LxtError("usage", "checkpoint: -s and -r do not go together");
        await restore({ ...opts, dir: opts.checkpointDir }, name);
        return;
      }
      const { checkpointContainer } = await import("../../container/checkpoint.js");
      const { ctx, paths } = target(opts, name);
      const r = await checkpointContainer(ctx, paths, {
        dir: requireDir(opts.checkpointDir, "checkpoint"),
        stop: !!opts.stop,
        verbose: !!opts.verbose,
      });
      if (opts.verbose)
        writeOut(`dumped ${paths.name} to ${r.dir} in ${Math.round(r.dumpMs)} ms\n`);
    });
  program
    .command("restore")
    .description("restore a container from a checkpoint directory (checkpoint -r)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-D, --checkpoint-dir <dir>", "the directory holding the checkpoint")
    .option("-v, --verbose", "CRIU's most verbose log; print the time taken")
    .argument("[name]")
    .action(async (name, opts) => restore({ ...opts, dir: opts.checkpointDir }, name));
}

function requireDir(dir: string | undefined, verb: string): string {
  if (!dir) throw new LxtError("usage", `${verb}: -D DIR is required (the checkpoint directory)`);
  return resolve(dir);
}
