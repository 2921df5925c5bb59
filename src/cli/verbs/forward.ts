import { type Command, Option } from "@commander-js/extra-typings";
import { containerPaths } from "../../container/paths.js";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { printJson, printTable, writeOut } from "../output.js";

export function register(program: Command): void {
  const fwd = program
    .command("forward")
    .description("port forwards: host ports DNATed to a container on a managed network");

  fwd
    .command("add")
    .description("forward a host port to a container's port (applied while it runs)")
    .addOption(lxcpathOption())
    .argument("<name>", "container")
    .argument("<proto>", "tcp or udp")
    .argument("<host-port>", "[HOSTADDR:]PORT on the host (no address: every local address)")
    .argument("<container-port>", "port inside the container")
    .action(async (name, proto, host, target, opts) => {
      const { addForward, parseForwardArgs } = await import("../../container/forward.js");
      const f = parseForwardArgs(proto, host, target);
      const ctx = cliContext(opts);
      const active = await addForward(ctx, containerPaths(ctx, name), f);
      const to = active.find((a) => a.port === f.port && a.proto === f.proto);
      writeOut(
        `forward ${name} ${proto} ${host} -> ${to ? `${to.address}:${f.targetPort}` : `port ${f.targetPort} (applied when ${name} starts)`}\n`,
      );
    });

  fwd
    .command("list")
    .alias("ls")
    .description("list port forwards (of one container, or all)")
    .addOption(lxcpathOption())
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"] as const))
    .argument("[name]", "container")
    .action(async (name, opts) => {
      const { listForwards } = await import("../../container/forward.js");
      const { listNames } = await import("../../container/list.js");
      const ctx = cliContext(opts);
      const names = name ? [name] : listNames(ctx.lxcpath);
      if (name) {
        const { requireExists } = await import("../../container/paths.js");
        requireExists(containerPaths(ctx, name), "forward list");
      }
      const rows = listForwards(ctx, names);
      if (opts.format === "json") return printJson(rows);
      printTable(
        ["CONTAINER", "PROTO", "LISTEN", "TARGET", "NETWORK"],
        rows.map((r) => [
          r.container,
          r.proto,
          `${r.listen ?? "*"}:${r.port}`,
          r.address ? `${r.address}:${r.targetPort}` : `-:${r.targetPort} (stopped)`,
          r.network ?? "-",
        ]),
      );
    });

  fwd
    .command("remove")
    .alias("rm")
    .description("remove a container's port forward (all of them with --all)")
    .addOption(lxcpathOption())
    .option("--all", "remove every forward of the container")
    .argument("<name>", "container")
    .argument("[proto]", "tcp or udp")
    .argument("[host-port]", "[HOSTADDR:]PORT as given to add")
    .action(async (name, proto, host, opts) => {
      if (!opts.all && (!proto || !host))
        throw new LxtError("usage", "forward remove: give PROTO [HOSTADDR:]PORT, or --all");
      const { removeForward } = await import("../../container/forward.js");
      const ctx = cliContext(opts);
      await removeForward(
        ctx,
        containerPaths(ctx, name),
        opts.all ? undefined : { proto: proto ?? "", host: host ?? "" },
      );
    });
}
