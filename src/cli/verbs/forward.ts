import { type Command, Option } from "@commander-js/extra-typings";
import { resolveLxcpath } from "../../container/paths.js";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { printJson, printTable, writeOut } from "../output.js";

async function parse(proto: string, host: string, target: string) {
  const { parseForward } = await import("../../network/forward.js");
  const { ValueError } = await import("../../config/values.js");
  try {
    return parseForward(proto, host, target);
  } catch (err) {
    if (err instanceof ValueError) throw new LxtError("usage", `forward: ${err.message}`);
    throw err;
  }
}

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
      const f = await parse(proto, host, target);
      const { addForward } = await import("../../network/forward-apply.js");
      const active = await addForward(resolveLxcpath(opts.lxcpath), name, f);
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
      const { readForwards } = await import("../../network/forward.js");
      const { activeForwards } = await import("../../network/forward.js");
      const { listNetworkDefs, networkRunPaths } = await import("../../network/manage.js");
      const { listNames } = await import("../../container/list.js");
      const lxcpath = resolveLxcpath(opts.lxcpath);
      const names = name ? [name] : listNames(lxcpath);
      if (name) {
        const { containerPaths, requireExists } = await import("../../container/paths.js");
        requireExists(containerPaths(lxcpath, name), "forward list");
      }
      const active = listNetworkDefs(lxcpath).flatMap((d) =>
        activeForwards(lxcpath, networkRunPaths(lxcpath, d.name)).map((a) => ({
          ...a,
          network: d.name,
        })),
      );
      const rows = names.flatMap((c) =>
        readForwards(lxcpath, c).map((f) => {
          const a = active.find(
            (x) =>
              x.container === c &&
              x.proto === f.proto &&
              x.port === f.port &&
              x.listen === f.listen,
          );
          return {
            container: c,
            ...f,
            ...(a ? { address: a.address, network: a.network } : {}),
          };
        }),
      );
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
      const { removeForward } = await import("../../network/forward-apply.js");
      await removeForward(
        resolveLxcpath(opts.lxcpath),
        name,
        opts.all ? undefined : { proto: proto ?? "", host: host ?? "" },
      );
    });
}
