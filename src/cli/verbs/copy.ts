import type { Command } from "@commander-js/extra-typings";
import { containerPaths } from "../../container/paths.js";
import { LxtError } from "../../core/errors.js";
import { checkName } from "../../core/names.js";
import { lxcpathOption, nameOption, target } from "../common.js";
import { cliCaller, resolveLxcpath } from "../context.js";
import { writeOut } from "../output.js";
import { withProgress } from "../progress.js";
import { sweepAndReport } from "../sweep.js";

export function register(program: Command): void {
  program
    .command("copy")
    .description("copy a container (lxc-copy): in full, as a copy-on-write snapshot, or ephemeral")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-N, --newname <name>", "name of the new container")
    .option("-p, --newpath <path>", "state root of the new container (default: the same)")
    .option("-s, --snapshot", "copy-on-write clone (btrfs snapshot, or overlay over the source)")
    .option("-e, --ephemeral", "ephemeral copy: a CoW clone, started, destroyed when it stops")
    .option(
      "-B, --backingstorage <backend>",
      "backend of the new container (dir, btrfs, overlay, zfs: beside a zfs source's dataset, else under lxt)",
    )
    .option("-q, --quiet", "no progress line")
    .option(
      "-v, --verbose",
      "to a remote: print the bytes sent and how long a running container was stopped",
    )
    .option("--stateful", "to a remote: a running container's memory too (checkpoint and restore)")
    .argument("[name]")
    .argument("[target]", "REMOTE:[NEWNAME]: copy to a remote lxtd (lxt remote add)")
    .action(async (name, dest, opts) => {
      // `copy -n NAME REMOTE:` has the target as its one positional word.
      const remoteDest = dest ?? (opts.name && name?.includes(":") ? name : undefined);
      if (remoteDest !== undefined) {
        const { remoteTransfer } = await import("../migrate-verb.js");
        await remoteTransfer("copy", opts.name ?? name ?? "", remoteDest, opts);
        return;
      }
      if (opts.stateful) throw new LxtError("usage", "copy: --stateful is for a copy to a remote");
      const { ctx, paths: src } = target(opts, name);
      if (!opts.newname && !opts.ephemeral) {
        throw new LxtError("usage", "copy: give the new name (-N NEWNAME)");
      }
      const newName = opts.newname ?? `${src.name}-${Math.random().toString(36).slice(2, 8)}`;
      const dst = containerPaths(
        ctx,
        checkName(newName),
        resolveLxcpath(opts.newpath ?? opts.lxcpath),
      );
      await sweepAndReport(ctx, dst.lxcpath);
      const { copyContainer } = await import("../../container/copy.js");
      const out = await withProgress(opts, (progress) =>
        copyContainer(ctx, src, dst, {
          caller: cliCaller(),
          snapshot: opts.snapshot,
          ephemeral: opts.ephemeral,
          backend: opts.backingstorage,
          progress,
        }),
      );
      if (out.started) writeOut(`${dst.name}\n`);
      for (const w of out.started?.warnings ?? []) process.stderr.write(`lxt: warning: ${w}\n`);
    });
}
