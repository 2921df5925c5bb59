import { type Command, Option } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { printJson, printTable, writeOut } from "../output.js";

function parseBoolArg(what: string) {
  return (v: string): boolean => {
    if (v === "true" || v === "1") return true;
    if (v === "false" || v === "0") return false;
    throw new LxtError("usage", `${what}: expected true or false, not "${v}"`);
  };
}

const formatOption = () =>
  new Option("--format <format>", "output format").choices(["table", "json"] as const);

export function register(program: Command): void {
  const net = program
    .command("network")
    .description("managed networks: a bridge with NAT, DHCP and DNS for containers");

  net
    .command("create")
    .description("create a network and bring it up")
    .addOption(lxcpathOption())
    .option("--ipv4 <cidr>", "gateway address and prefix (10.0.3.1/24) or auto", "auto")
    .option("--nat <bool>", "masquerade traffic leaving the subnet", parseBoolArg("--nat"), true)
    .option("--dhcp-range <first-last>", "DHCP range (default: the whole subnet past the gateway)")
    .option("--domain <domain>", "DNS domain of the containers", "lxt")
    .option(
      "--dns-upstream <bool>",
      "forward other DNS queries to the host's resolvers",
      parseBoolArg("--dns-upstream"),
      false,
    )
    .option(
      "--ipv6 <cidr>",
      "IPv6 gateway address with its /64, auto (a random ULA /64) or none",
      "none",
    )
    .option(
      "--nat6 <bool>",
      "masquerade IPv6 traffic leaving the /64 (NAT66)",
      parseBoolArg("--nat6"),
      true,
    )
    .argument("<name>")
    .action(async (name, opts) => {
      const { createNetwork } = await import("../../container/network.js");
      const s = await createNetwork(cliContext(opts), name, {
        ipv4: opts.ipv4,
        nat: opts.nat,
        domain: opts.domain,
        dnsUpstream: opts.dnsUpstream,
        ipv6: opts.ipv6,
        nat6: opts.nat6,
        ...(opts.dhcpRange ? { dhcpRange: opts.dhcpRange } : {}),
      });
      writeOut(`network ${s.name} created: ${s.ipv4}${s.ipv6 ? ` ${s.ipv6}` : ""}\n`);
      for (const w of s.forwardWarnings) process.stderr.write(`lxt: warning: ${w}\n`);
    });

  net
    .command("list")
    .alias("ls")
    .description("list networks")
    .addOption(lxcpathOption())
    .addOption(formatOption())
    .action(async (opts) => {
      const { listNetworks } = await import("../../container/network.js");
      const all = await listNetworks(cliContext(opts));
      if (opts.format === "json") return printJson(all);
      printTable(
        ["NAME", "IPV4", "NAT", "DOMAIN", "STATE", "PORTS"],
        all.map((n) => [
          n.name,
          n.ipv4,
          n.nat ? "yes" : "no",
          n.domain,
          n.bridgeUp && n.dnsmasqPid ? "UP" : n.bridgeUp ? "DEGRADED" : "DOWN",
          String(n.ports.length),
        ]),
      );
    });

  net
    .command("show")
    .description("show a network, its DHCP leases and its containers' reserved addresses")
    .addOption(lxcpathOption())
    .addOption(formatOption())
    .argument("<name>")
    .action(async (name, opts) => {
      const { showNetwork } = await import("../../container/network.js");
      const s = await showNetwork(cliContext(opts), name);
      if (opts.format === "json") return printJson(s);
      const lines = [
        `name:        ${s.name}`,
        `ipv4:        ${s.ipv4}`,
        `nat:         ${s.nat}`,
        `ipv6:        ${s.ipv6 ?? "none"}${s.ipv6 ? ` (nat ${s.nat6 ?? false})` : ""}`,
        `dhcp range:  ${s.dhcpRange.join(" - ")}`,
        `domain:      ${s.domain}`,
        `upstream dns: ${s.dnsUpstream}`,
        `bridge:      ${s.bridgeUp ? "up" : "missing"}`,
        `dnsmasq:     ${s.dnsmasqPid ? `pid ${s.dnsmasqPid}` : "not running"}`,
        `ports:       ${s.ports.join(", ") || "-"}`,
      ];
      writeOut(`${lines.join("\n")}\n`);
      for (const w of s.forwardWarnings) writeOut(`warning:     ${w}\n`);
      if (s.leases.length > 0) {
        writeOut("leases:\n");
        printTable(
          ["CONTAINER", "HOSTNAME", "IPV4", "HWADDR", "EXPIRES"],
          s.leases.map((l) => [
            l.container ?? "-",
            l.hostname || "-",
            l.ipv4,
            l.hwaddr,
            new Date(l.expires * 1000).toISOString(),
          ]),
        );
      }
      if (s.reservations.length > 0) {
        writeOut("reservations:\n");
        printTable(
          ["CONTAINER", "NIC", "IPV4", "HWADDR"],
          s.reservations.map((r) => [r.container, String(r.nic), r.ipv4, r.hwaddr]),
        );
      }
    });

  net
    .command("set")
    .description(
      "set a key, applied live: ipv4.address, ipv4.nat, ipv4.dhcp.ranges, ipv6.address, ipv6.nat, dns.domain, dns.upstream",
    )
    .addOption(lxcpathOption())
    .argument("<name>")
    .argument("<key>")
    .argument("<value>")
    .action(async (name, key, value, opts) => {
      const { setNetwork } = await import("../../container/network.js");
      await setNetwork(cliContext(opts), name, key, value);
    });

  net
    .command("unset")
    .description("set a key back to its default, applied live")
    .addOption(lxcpathOption())
    .argument("<name>")
    .argument("<key>")
    .action(async (name, key, opts) => {
      const { setNetwork } = await import("../../container/network.js");
      await setNetwork(cliContext(opts), name, key, undefined);
    });

  net
    .command("delete")
    .alias("rm")
    .description("delete a network (refused while containers use it)")
    .addOption(lxcpathOption())
    .argument("<name>")
    .action(async (name, opts) => {
      const { deleteNetwork } = await import("../../container/network.js");
      await deleteNetwork(cliContext(opts), name);
    });
}
