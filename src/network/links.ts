/**
 * The host's links and routes as lxt reads them: one `ip -j` listing per
 * question, or /proc/self/net/dev where a name is all that is asked (both
 * per network namespace, unlike /sys/class/net).
 */
import { readFileSync } from "node:fs";
import type { CommandRunner } from "../host/runner.js";
import { type Cidr, parseCidr } from "./ipv4.js";

/** The IPv4 destinations the host routes (default excluded, and those through `exceptDev`), as CIDRs. */
export async function hostRoutes(runner: CommandRunner, exceptDev?: string): Promise<Cidr[]> {
  const out = await runner.run("ip", ["-j", "-4", "route", "show", "table", "all"]);
  const routes = JSON.parse(out || "[]") as { dst?: string; type?: string; dev?: string }[];
  return routes.flatMap((r) => {
    if (!r.dst || r.dst === "default" || r.type === "broadcast") return [];
    if (exceptDev && r.dev === exceptDev) return [];
    try {
      const c = parseCidr(r.dst, 32);
      return r.type === "local" ? [] : [c];
    } catch {
      return [];
    }
  });
}

/** A link as `ip -j -d addr show` reports it (the fields lxt reads). */
export interface HostLink {
  ifname?: string;
  mtu?: number;
  address?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; scope?: string }[];
}

/**
 * Every link of the caller's network namespace with its kind and addresses,
 * in one `ip` run (a start lists them once and reads kinds from that).
 * Through `ip`, not /sys/class/net: sysfs shows the namespace it was mounted in.
 */
export async function listLinks(runner: CommandRunner): Promise<HostLink[]> {
  const out = await runner.run("ip", ["-j", "-d", "addr", "show"]);
  return JSON.parse(out || "[]") as HostLink[];
}

/** Kind of a link in a listing: `missing`, `bridge` or `other`. */
export function kindIn(links: readonly HostLink[], name: string): LinkKind {
  const link = links.find((l) => l.ifname === name);
  if (!link) return "missing";
  return link.linkinfo?.info_kind === "bridge" ? "bridge" : "other";
}

export type LinkKind = "missing" | "bridge" | "other";

/**
 * Whether a link of this name exists in the caller's network namespace, from
 * /proc/self/net/dev (per namespace, unlike /sys/class/net, which shows the
 * namespace sysfs was mounted in): a file read, no `ip` run. Says nothing of
 * the link's kind.
 */
export function linkPresent(name: string): boolean {
  let text = "";
  try {
    text = readFileSync("/proc/self/net/dev", "utf8");
  } catch {
    return false;
  }
  return text.split("\n").some((l) => l.slice(0, l.indexOf(":")).trim() === name);
}

/** Kind of a link in the caller's network namespace (one listing). */
export async function linkKind(name: string, runner: CommandRunner): Promise<LinkKind> {
  return kindIn(await listLinks(runner), name);
}

/** Interfaces enslaved to a bridge. */
export async function bridgePorts(name: string, runner: CommandRunner): Promise<string[]> {
  const out = await runner.run("ip", ["-j", "link", "show", "master", name]).catch(() => "[]");
  return (JSON.parse(out || "[]") as { ifname?: string }[])
    .flatMap((l) => (l.ifname ? [l.ifname] : []))
    .sort();
}
