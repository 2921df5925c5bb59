import { readFileSync, statSync } from "node:fs";
import type { CommandRunner } from "./runner.js";

/** The global addresses of a network namespace, read through one of its processes. */
export interface Addresses {
  ipv4: string[];
  ipv6: string[];
}

/** Local IPv4 addresses from `/proc/PID/net/fib_trie` (host routes marked LOCAL), loopback excluded. */
export function parseFibTrie(text: string): string[] {
  const out = new Set<string>();
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    if (/\/32 host LOCAL/.test(lines[i] ?? "")) {
      const m = /([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)\s*$/.exec(lines[i - 1] ?? "");
      if (m?.[1] && !m[1].startsWith("127.")) out.add(m[1]);
    }
  }
  return [...out];
}

/** Global IPv6 addresses from `/proc/PID/net/if_inet6` (scope 0x00 only). */
export function parseIfInet6(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const [hex, , , scope] = line.trim().split(/\s+/);
    if (hex?.length !== 32 || scope !== "00") continue;
    const groups = hex.match(/.{4}/g) ?? [];
    out.push(compressIpv6(groups.map((g) => g.replace(/^0+(?=.)/, ""))));
  }
  return out;
}

function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** Addresses of the network namespace `pid` lives in; empty when unreadable. */
export function readAddresses(pid: number): Addresses {
  const read = (f: string) => {
    try {
      return readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      return "";
    }
  };
  return { ipv4: parseFibTrie(read("fib_trie")), ipv6: parseIfInet6(read("if_inet6")) };
}

/** Traffic through one network interface. */
export interface NicBytes {
  name: string;
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxErrs: number;
  txErrs: number;
  rxDrop: number;
  txDrop: number;
}

/** Per-interface counters from `/proc/PID/net/dev` (proc(5)), loopback excluded. */
export function parseNetDev(text: string): NicBytes[] {
  const out: NicBytes[] = [];
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    if (name === "lo" || f.length < 12) continue;
    // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
    out.push({
      name,
      rxBytes: Number(f[0]),
      rxPackets: Number(f[1]),
      rxErrs: Number(f[2]),
      rxDrop: Number(f[3]),
      txBytes: Number(f[8]),
      txPackets: Number(f[9]),
      txErrs: Number(f[10]),
      txDrop: Number(f[11]),
    });
  }
  return out;
}

/** The network byte counters of the namespace of `pid`; none if it is gone. */
export function readNetBytes(pid: number): NicBytes[] {
  try {
    return parseNetDev(readFileSync(`/proc/${pid}/net/dev`, "utf8"));
  } catch {
    return [];
  }
}

/** One interface of a network namespace as `ip -j addr` shows it. */
export interface LiveNic {
  name: string;
  hwaddr?: string;
  ipv4: string[];
  ipv6: string[];
}

/** Parses `ip -j addr` output: global addresses per interface, loopback excluded. */
export function parseIpAddrJson(text: string): LiveNic[] {
  const links = JSON.parse(text || "[]") as {
    ifname?: string;
    address?: string;
    link_type?: string;
    addr_info?: { family?: string; local?: string; scope?: string }[];
  }[];
  return links
    .filter((l) => l.ifname && l.link_type !== "loopback")
    .map((l) => {
      const of = (fam: string) =>
        (l.addr_info ?? []).flatMap((a) =>
          a.family === fam && a.scope === "global" && a.local ? [a.local] : [],
        );
      return {
        name: l.ifname ?? "",
        ...(l.address ? { hwaddr: l.address } : {}),
        ipv4: of("inet"),
        ipv6: of("inet6"),
      };
    });
}

/** An IPv4 address of /proc's little-endian hex (`/proc/net/route`) as a number. */
function hexIpv4(hex: string): number {
  const n = Number.parseInt(hex, 16);
  // The file holds the bytes in the host's (little-endian) order.
  return ((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | (n >>> 24);
}

function dotted(addr: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = addr.split(".").map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * The global addresses of each interface of a network namespace from its
 * /proc files alone (no process spawned): IPv6 from `if_inet6`, which names
 * the interface; IPv4 from `fib_trie`'s local addresses, each given to the
 * interface whose connected route (`route`, no gateway) holds it.
 * Undefined when an IPv4 address has no such route (a /32): only `ip`
 * can say where that one is.
 */
export function parseProcNics(
  fibTrie: string,
  route: string,
  ifInet6: string,
): LiveNic[] | undefined {
  const nics = new Map<string, LiveNic>();
  const nic = (name: string) => {
    let n = nics.get(name);
    if (!n) {
      n = { name, ipv4: [], ipv6: [] };
      nics.set(name, n);
    }
    return n;
  };
  const connected: { iface: string; dest: number; mask: number }[] = [];
  for (const line of route.split("\n").slice(1)) {
    const [iface, dest, , flags, , , , mask] = line.trim().split(/\s+/);
    if (!iface || !dest || !mask || !flags) continue;
    // RTF_UP without RTF_GATEWAY: the subnet is on this link.
    const f = Number.parseInt(flags, 16);
    if ((f & 0x1) === 0 || (f & 0x2) !== 0) continue;
    connected.push({ iface, dest: hexIpv4(dest) >>> 0, mask: hexIpv4(mask) >>> 0 });
    nic(iface);
  }
  for (const addr of parseFibTrie(fibTrie)) {
    const a = dotted(addr);
    const hit = connected
      .filter((r) => r.mask !== 0 && (a & r.mask) >>> 0 === r.dest)
      .sort((x, y) => y.mask - x.mask)[0];
    if (!hit) return undefined;
    nic(hit.iface).ipv4.push(addr);
  }
  for (const line of ifInet6.split("\n")) {
    const f = line.trim().split(/\s+/);
    const [hex, , , scope] = f;
    const name = f[5];
    if (!name || name === "lo" || hex?.length !== 32) continue;
    const n = nic(name);
    if (scope !== "00") continue;
    n.ipv6.push(...parseIfInet6(line));
  }
  return [...nics.values()];
}

/**
 * The interfaces of the network namespace `pid` lives in, with their global
 * addresses: from its /proc files, else (an address /proc cannot place)
 * `nsenter … ip -j addr`; none if it is gone.
 */
export async function readLiveNics(runner: CommandRunner, pid: number): Promise<LiveNic[]> {
  try {
    const read = (f: string) => readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    const fromProc = parseProcNics(read("fib_trie"), read("route"), read("if_inet6"));
    if (fromProc) return fromProc;
  } catch {
    // gone, or a file the kernel lacks (no IPv6): ask ip
  }
  return readLiveNicsByIp(runner, pid);
}

/** The interfaces of the network namespace `pid` lives in (`nsenter … ip -j addr`); none if it is gone. */
export async function readLiveNicsByIp(runner: CommandRunner, pid: number): Promise<LiveNic[]> {
  try {
    return parseIpAddrJson(
      await runner.run("nsenter", ["-t", String(pid), "-n", "ip", "-j", "addr", "show"]),
    );
  } catch {
    return [];
  }
}

/** The inode of the initial network namespace on kernels that give it a fixed one (PROC_NET_INIT_INO). */
const NET_INIT_INO = 0xeffffff9;

/**
 * Whether this process is in the host's network namespace: the kernel's
 * initial one (fixed inode on recent kernels), or PID 1's where /proc/1 is
 * readable (older kernels number namespaces dynamically).
 */
export function inHostNetns(): boolean {
  const self = statSync("/proc/self/ns/net").ino;
  if (self === NET_INIT_INO) return true;
  try {
    return self === statSync("/proc/1/ns/net").ino;
  } catch {
    return false;
  }
}
