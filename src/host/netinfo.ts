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

/** The interfaces of the network namespace `pid` lives in (`nsenter … ip -j addr`); none if it is gone. */
export async function readLiveNics(runner: CommandRunner, pid: number): Promise<LiveNic[]> {
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
