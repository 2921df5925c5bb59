import { type Command, Option } from "@commander-js/extra-typings";
import { requireExists } from "../../container/paths.js";
import { lxcpathOption, nameOption, target } from "../common.js";
import { humanBytes, nicJson, printJson, writeOut } from "../output.js";
import { phase } from "../phases.js";

export function register(program: Command): void {
  program
    .command("info")
    .description("show a container's state, pid, addresses and resource use")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-s, --state", "only the state")
    .option("-p, --pid", "only the pid")
    .option("-i, --ips", "only the addresses")
    .option("-S, --stats", "only the resource use")
    .option("-H, --no-humanize", "raw numbers")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"] as const))
    .argument("[name]")
    .action(async (name, opts) => {
      const { containerInfo } = await import("../../container/list.js");
      phase("verb loaded");
      const { ctx, paths } = target(opts, name);
      requireExists(paths, "info");
      const info = await containerInfo(ctx, paths);
      const only = opts.state || opts.pid || opts.ips || opts.stats;
      // Where the console's copy and the container's log go (read only when shown).
      const { containerLogFiles } = await import("../../container/console.js");
      let logs: ReturnType<typeof containerLogFiles> | undefined;
      try {
        if (!only || opts.format === "json") logs = containerLogFiles(paths, {});
      } catch {
        // A config that needs the caller's environment (lxc.environment = NAME): not shown.
      }
      if (opts.format === "json") {
        printJson({
          name: info.name,
          state: info.state,
          pid: info.pid ?? null,
          ipv4: info.ipv4,
          ipv6: info.ipv6,
          cpu_seconds: info.cpuSeconds ?? null,
          memory_bytes: info.memoryBytes ?? null,
          memory_peak_bytes: info.memoryPeakBytes ?? null,
          memory_swap_bytes: info.memorySwapBytes ?? null,
          oom_kills: info.oomKills ?? null,
          pids: info.pids ?? null,
          io_read_bytes: info.ioReadBytes ?? null,
          io_write_bytes: info.ioWriteBytes ?? null,
          nics: info.nics.map(nicJson),
          net: info.net.map((n) => ({ name: n.name, rx_bytes: n.rxBytes, tx_bytes: n.txBytes })),
          last_exit: info.lastExit ?? null,
          console_log: logs?.console ?? null,
          log_file: logs?.log ?? null,
          cgroups: info.cgroups,
          apparmor: info.apparmor,
          lxcfs: info.lxcfs,
        });
        return;
      }
      const bytes = (n: number | undefined) => (opts.humanize ? humanBytes(n) : String(n ?? "-"));
      const lines: [string, string][] = [];
      if (!only) lines.push(["Name", info.name]);
      if (!only || opts.state) lines.push(["State", info.state]);
      if ((!only || opts.pid) && info.pid) lines.push(["PID", String(info.pid)]);
      if (!only || opts.ips) for (const ip of [...info.ipv4, ...info.ipv6]) lines.push(["IP", ip]);
      if (!only) lines.push(["Id map", info.userns.idmap], ["Rootfs owner", info.userns.ownership]);
      if (!only) {
        for (const n of info.nics) {
          const via = [n.link && `link ${n.link}`, n.hostName && `host ${n.hostName}`, n.mode]
            .filter(Boolean)
            .join(", ");
          const addrs = [...n.ipv4, ...n.ipv6].join(" ") || "no address";
          lines.push([
            `NIC ${n.name}`,
            `${n.type}${via ? ` (${via})` : ""} ${n.hwaddr ?? ""} ${addrs}`,
          ]);
        }
      }
      if ((!only || opts.stats) && info.state !== "STOPPED") {
        if (info.cpuSeconds !== undefined)
          lines.push(["CPU use", `${info.cpuSeconds.toFixed(2)} seconds`]);
        if (info.memoryBytes !== undefined) lines.push(["Memory use", bytes(info.memoryBytes)]);
        if (info.memoryPeakBytes !== undefined)
          lines.push(["Memory peak", bytes(info.memoryPeakBytes)]);
        if (info.memorySwapBytes !== undefined)
          lines.push(["Swap use", bytes(info.memorySwapBytes)]);
        if (info.oomKills !== undefined) lines.push(["OOM kills", String(info.oomKills)]);
        if (info.lxcfs.length > 0) lines.push(["lxcfs", info.lxcfs.join(" ")]);
        if (info.pids !== undefined) lines.push(["Processes", String(info.pids)]);
        if (info.ioReadBytes !== undefined) lines.push(["BlkIO read", bytes(info.ioReadBytes)]);
        if (info.ioWriteBytes !== undefined) lines.push(["BlkIO write", bytes(info.ioWriteBytes)]);
        for (const n of info.net) {
          lines.push([`${n.name} RX`, bytes(n.rxBytes)], [`${n.name} TX`, bytes(n.txBytes)]);
        }
      }
      if (!only) lines.push(["AppArmor", info.apparmor]);
      if (!only && info.state === "STOPPED" && info.lastExit) {
        const e = info.lastExit;
        lines.push([
          "Last exit",
          e.signal !== undefined ? `killed by signal ${e.signal}` : `code ${e.code}`,
        ]);
      }
      if (logs) {
        lines.push(["Console log", logs.console]);
        if (logs.log) lines.push(["Log", logs.log]);
      }
      writeOut(`${lines.map(([k, v]) => `${`${k}:`.padEnd(15)} ${v}`).join("\n")}\n`);
    });
}
