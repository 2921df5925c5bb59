/**
 * The shape of a registered config key and the helpers that build specs.
 * The tables are in keys-runtime.ts and keys-confinement.ts; lookup and
 * classification in keys.ts.
 */

import { parseBool01, parseInteger, parseSignal, ValueError } from "./values.js";

/** How the host mounts cgroups: legacy only, both, or unified only. */
export type CgroupLayout = "v1" | "hybrid" | "v2";

/** What classification needs to know about the host. */
export interface HostInfo {
  cgroupLayout: CgroupLayout;
  /** Host architecture as `uname -m` prints it (x86_64, aarch64, ...). */
  arch: string;
}

export type KeyStatus = "implemented" | "ignored";

/** The verdict on one entry. */
export type Verdict =
  | { status: "implemented" }
  | { status: "ignored"; reason: string; warn: boolean };

/** One registered key (or key pattern such as `lxc.prlimit.[name]`). */
export interface KeySpec {
  /** The key, or its pattern with `[...]` for the variable part. */
  name: string;
  /** Usual status (what docs/config.md shows). */
  status: KeyStatus;
  summary: string;
  /** Default when unset, as text for the docs. */
  default?: string;
  /** Repeatable; an empty value clears earlier values. */
  list: boolean;
  /** The family this key belongs to, for a family root's clear (defaults to `name`). */
  family?: string;
  /**
   * For a family root such as `lxc.cgroup`: an empty value clears every key
   * of the family named here (a spec name).
   */
  clears?: string;
  /**
   * Checks a non-empty value (throws ValueError) and may return a verdict
   * that differs from `status` (e.g. `lxc.arch` naming the host's own
   * architecture is ignored).
   */
  check(value: string, key: string, host: HostInfo): Verdict | undefined;
}

export interface SpecOpts {
  list?: boolean;
  family?: string;
  default?: string;
  clears?: string;
  check?: (value: string, key: string, host: HostInfo) => Verdict | undefined;
}

export const IMPLEMENTED: Verdict = { status: "implemented" };

export function impl(
  name: string,
  summary: string,
  check: (v: string, key: string) => void,
  opts: SpecOpts = {},
): KeySpec {
  return {
    name,
    status: "implemented",
    summary,
    list: opts.list ?? false,
    ...(opts.default !== undefined ? { default: opts.default } : {}),
    ...(opts.family ? { family: opts.family } : {}),
    check: (v, k, h) => {
      check(v, k);
      return opts.check?.(v, k, h);
    },
  };
}

export function ignored(
  name: string,
  summary: string,
  reason: string,
  warn: boolean,
  opts: SpecOpts = {},
): KeySpec {
  return {
    name,
    status: "ignored",
    summary,
    list: opts.list ?? false,
    ...(opts.default !== undefined ? { default: opts.default } : {}),
    check: (v, k, h) => opts.check?.(v, k, h) ?? { status: "ignored", reason, warn },
  };
}

/** A root key (`lxc.hook`) that only takes an empty value, clearing its family. */
export function familyRoot(name: string, clears: string, summary: string): KeySpec {
  return {
    name,
    status: "implemented",
    summary,
    list: true,
    clears,
    check: () => {
      throw new ValueError(`must not have a value (an empty value clears ${clears})`);
    },
  };
}

export const nothing = () => {};
export const bool01 = (v: string) => void parseBool01(v);
export const uint = (v: string) => void parseInteger(v);
export const signal = (v: string) => void parseSignal(v);
export const oneOf = (allowed: string[]) => (v: string) => {
  if (!allowed.includes(v))
    throw new ValueError(`invalid value "${v}": expected one of ${allowed.join(", ")}`);
};
export const subkeyAfter = (prefix: string, what: string) => (_v: string, key: string) => {
  const sub = key.slice(prefix.length);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(sub))
    throw new ValueError(`malformed ${what} "${sub}" in ${key}`);
};
