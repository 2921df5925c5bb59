import type { Command } from "@commander-js/extra-typings";
import { containerPaths } from "../../container/paths.js";
import { LxtError } from "../../core/errors.js";
import { checkName } from "../../core/names.js";
import { lxcpathOption, nameOption, target } from "../common.js";
import { cliCaller } from "../context.js";
import { humanBytes, printJson, printTable, writeOut } from "../output.js";

export function register(program: Command): void {
  program
    .command("snapshot")
    .description("snapshot a container, or list, restore or destroy its snapshots (lxc-snapshot)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-c, --comment <file>", "store the contents of FILE as the snapshot's comment")
    .option("-L, --list", "list the snapshots")
    .option("-C, --showcomments", "with -L: show comments (always shown here)")
    .option("-r, --restore <snap>", "restore snapshot SNAP (in place, or to -N NEWNAME)")
    .option("-N, --newname <name>", "with -r: restore to a new container NEWNAME")
    .option("-d, --destroy <snap>", "destroy snapshot SNAP")
    .option("--format <format>", "with -L: table or json")
    .argument("[name]")
    .action(async (name, opts) => {
      const { ctx, paths } = target(opts, name);
      const modes = [opts.list, opts.restore, opts.destroy].filter(Boolean).length;
      if (modes > 1) throw new LxtError("usage", "snapshot: -L, -r and -d exclude each other");
      if (opts.newname && !opts.restore) throw new LxtError("usage", "snapshot: -N needs -r");
      const snap = await import("../../container/snapshot.js");
      if (opts.list) {
        const list = await snap.listSnapshots(ctx, paths);
        if (opts.format === "json") return printJson(list);
        if (list.length === 0) {
          writeOut("No snapshots\n");
          return;
        }
        printTable(
          ["NAME", "TIME", "BACKEND", "SIZE", "COMMENT"],
          list.map((s) => [
            s.name,
            s.time,
            s.backend,
            s.size === undefined ? "-" : humanBytes(s.size),
            (s.comment ?? "").split("\n")[0] ?? "",
          ]),
        );
        return;
      }
      if (opts.restore) {
        const to = opts.newname ? containerPaths(ctx, checkName(opts.newname)) : paths;
        await snap.restoreSnapshot(ctx, paths, opts.restore, to, cliCaller());
        return;
      }
      if (opts.destroy) {
        await snap.destroySnapshot(ctx, paths, opts.destroy);
        return;
      }
      const made = await snap.createSnapshot(ctx, paths, {
        commentFile: opts.comment,
        caller: cliCaller(),
      });
      writeOut(`${made}\n`);
    });
}
