import { type Command, Option } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { nicJson, printJson, printTable, stdoutIsTTY, writeOut } from "../output.js";
import { phase } from "../phases.js";
import { sweepAndReport } from "../sweep.js";

export function register(program: Command): void {
  program
    .command("ls")
    .alias("list")
    .description("list containers")
    .addOption(lxcpathOption())
    .option("-f, --fancy", "a table with state, pid and addresses")
    .option("-1, --line", "one name per line")
    .option("--running", "only running containers")
    .option("--stopped", "only stopped containers")
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"] as const))
    .argument("[filter]", "regular expression the names must match")
    .action(async (filter, opts) => {
      const { listContainers, listNames } = await import("../../container/list.js");
      phase("verb loaded");
      const ctx = cliContext(opts);
      await sweepAndReport(ctx);
      let re: RegExp | undefined;
      try {
        re = filter ? new RegExp(filter) : undefined;
      } catch (err) {
        throw new LxtError("usage", `ls: bad filter "${filter}": ${(err as Error).message}`);
      }
      const wantState = opts.running || opts.stopped;
      if (!opts.fancy && !opts.format && !wantState) {
        const names = listNames(ctx.lxcpath).filter((n) => !re || re.test(n));
        if (names.length === 0) return;
        const sep = opts.line || !stdoutIsTTY() ? "\n" : "  ";
        writeOut(`${names.join(sep)}\n`);
        return;
      }
      let rows = (await listContainers(ctx)).filter((c) => !re || re.test(c.name));
      if (opts.running) rows = rows.filter((c) => c.state !== "STOPPED");
      if (opts.stopped) rows = rows.filter((c) => c.state === "STOPPED");
      if (opts.format === "json") {
        const { containerNics } = await import("../../container/list.js");
        const { containerPaths } = await import("../../container/paths.js");
        printJson(
          await Promise.all(
            rows.map(async (c) => ({
              name: c.name,
              state: c.state,
              pid: c.pid ?? null,
              ipv4: c.ipv4,
              ipv6: c.ipv6,
              nics: (await containerNics(ctx, containerPaths(ctx, c.name), c.pid)).map(nicJson),
            })),
          ),
        );
      } else if (opts.fancy || opts.format === "table") {
        printTable(
          ["NAME", "STATE", "PID", "IPV4", "IPV6"],
          rows.map((c) => [
            c.name,
            c.state,
            c.pid ? String(c.pid) : "-",
            c.ipv4.join(", ") || "-",
            c.ipv6.join(", ") || "-",
          ]),
        );
      } else {
        const sep = opts.line || !stdoutIsTTY() ? "\n" : "  ";
        if (rows.length > 0) writeOut(`${rows.map((c) => c.name).join(sep)}\n`);
      }
    });
}
