/**
 * IPv6 of a managed network: one /64 (SLAAC needs exactly that), given or a
 * random unique local prefix (RFC 4193: fd00::/8 + 40 random bits), refused
 * when the host already routes it.
 */
import { isIPv6 } from "node:net";
import { ValueError } from "../config/values.js";
import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import { expandIpv6, ipv6Prefix } from "./render.js";

/** Validates `ADDR/64` (a host address, not the prefix itself); returns it normalised to lower case. */
export function parseIpv6Cidr(text: string): string {
  const [addr = "", prefix, ...more] = text.split("/");
  if (!isIPv6(addr) || more.length > 0 || prefix === undefined) {
    throw new ValueError(`invalid IPv6 CIDR "${text}": expected ADDR/64 such as fd42:1:2:3::1/64`);
  }
  if (prefix !== "64")
    throw new ValueError(
      `${text}: the prefix must be /64 (router advertisements with SLAAC need it)`,
    );
  if (
    expandIpv6(addr)
      .slice(4)
      .every((g) => g === "0000")
  )
    throw new ValueError(`${text}: give the gateway's address, such as fd42:1:2:3::1/64`);
  return `${addr.toLowerCase()}/64`;
}

/** A random ULA /64 gateway address, `fdXX:XXXX:XXXX:0::1/64`; `bytes` are 5 random bytes. */
export function randomUla(bytes: Uint8Array): string {
  const h = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `fd${h.slice(0, 2)}:${h.slice(2, 6)}:${h.slice(6, 10)}::1/64`;
}

/** The /64s the host routes (link-local, multicast and `exceptDev`'s excluded). */
async function routedPrefixes(runner: CommandRunner, exceptDev: string): Promise<string[]> {
  const out = await runner.run("ip", ["-j", "-6", "route", "show"]).catch(() => "[]");
  return (JSON.parse(out || "[]") as { dst?: string; dev?: string }[]).flatMap((r) => {
    if (!r.dst || r.dev === exceptDev || !/\/64$/.test(r.dst) || /^f[ef]/i.test(r.dst)) return [];
    try {
      return [ipv6Prefix(r.dst)];
    } catch {
      return [];
    }
  });
}

/** Resolves `--ipv6` (`none`/undefined, `auto`, or `ADDR/64`) for network `name`. */
export async function planIpv6(
  name: string,
  spec: string | undefined,
  runner: CommandRunner,
): Promise<string | undefined> {
  if (!spec || spec === "none") return undefined;
  const routed = await routedPrefixes(runner, name);
  if (spec === "auto") {
    for (let i = 0; i < 8; i++) {
      const c = randomUla(globalThis.crypto.getRandomValues(new Uint8Array(5)));
      if (!routed.includes(ipv6Prefix(c))) return c;
    }
    throw new ValueError("could not pick an unused IPv6 prefix");
  }
  const c = parseIpv6Cidr(spec);
  if (routed.includes(ipv6Prefix(c))) {
    throw new LxtError(
      "exists",
      `network ${name}: IPv6 prefix ${ipv6Prefix(c)} is already routed on this host`,
    );
  }
  return c;
}
