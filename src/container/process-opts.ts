/**
 * The process and namespace keys at start (config/process.ts has their
 * values): which namespaces the container makes, which it joins and where
 * they are, and the helper's `opt` records (docs/helper-protocol.md,
 * _Process options_). LXC's rules (start.c: resolve_clone_flags,
 * lxc_inherit_namespace) with lxt's own refusals where a namespace the
 * helper needs cannot be the starter's. Reads /proc and other containers'
 * runtime state; changes nothing.
 */

import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import type { IdmapLine } from "../config/idmap.js";
import type { ContainerConfig } from "../config/model.js";
import type { Setting } from "../config/process.js";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { HelperFailure, OptVerb } from "../host/helper-protocol.js";
import { describeErrno } from "../host/monitor-client.js";
import { type ContainerPaths, containerPaths } from "./paths.js";
import { observe } from "./state.js";

/** personality(2): PER_LINUX32. */
const PER_LINUX32 = 0x0008;
/** Every namespace lxt knows, in the helper's `namespaces` spelling. */
const ALL = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/** One `opt` record: the verb, then its fields. */
export type OptRecord = readonly [OptVerb, ...string[]];

/** What the start makes of the process keys. */
export interface ProcessPlan {
  /** The namespaces made, without `user` and `time` (the plan's `namespaces` record adds `user`). */
  namespaces: string[];
  /** A user namespace of its own (the id map's) or none; a shared one is an `ns-share`. */
  userns: boolean;
  /** The user namespace is another's (`lxc.namespace.share.user`): its maps are not written. */
  userShared: boolean;
  /** The hostname is set only in a UTS namespace of its own. */
  ownUts: boolean;
  /** The `opt` records, in order. */
  records: OptRecord[];
}

/** What else the decision needs. */
export interface ProcessInput {
  paths: ContainerPaths;
  config: ContainerConfig;
  /** `lxc.net.N.type = none`: the starter's network namespace. */
  sharesHostNet: boolean;
  /** NIC types the config makes (veth, macvlan, phys). */
  nicTypes: readonly string[];
  /** Where the id map comes from (userns.ts). */
  idmap: "privileged" | "config" | "slice";
}

function where(s: Setting<unknown>): string {
  return `${s.file}:${s.line}: ${s.key}`;
}

function refuse(s: Setting<unknown>, why: string, code: "config" | "unsupported" = "config") {
  return new LxtError(code, `${where(s)}: ${why}`);
}

/** The namespaces made, from LXC's default or `lxc.namespace.clone`/`.keep`. */
function madeNamespaces(inp: ProcessInput): Set<string> {
  const p = inp.config.process;
  const unpriv = inp.idmap !== "privileged";
  const offsets = p.timeOffset.boot ?? p.timeOffset.monotonic;
  let made: Set<string>;
  if (p.nsClone) {
    made = new Set(p.nsClone.value);
    if (unpriv && !made.has("user"))
      throw refuse(
        p.nsClone,
        "leaves out user, but the container has an id map (unprivileged): add user",
      );
    if (!unpriv && made.has("user"))
      throw refuse(
        p.nsClone,
        "makes a user namespace, but the container has no id map: set lxc.idmap (or lxt.privileged = 0)",
      );
  } else if (p.nsKeep) {
    made = new Set(ALL.filter((n) => !p.nsKeep?.value.includes(n)));
    if (unpriv && !made.has("user"))
      throw refuse(
        p.nsKeep,
        "keeps user, which an unprivileged container (one with an id map) cannot: its user namespace is its map",
      );
    if (!unpriv && made.has("user"))
      throw refuse(
        p.nsKeep,
        "would make a user namespace without an id map: keep user, or set lxc.idmap",
      );
    if (offsets && !made.has("time"))
      throw refuse(
        p.nsKeep,
        `keeps time, but ${offsets.key} asks for a time namespace with an offset (LXC refuses this too)`,
      );
  } else {
    made = new Set(["pid", "mnt", "uts", "ipc", "net", "cgroup"]);
    if (unpriv) made.add("user");
    if (offsets) made.add("time");
  }
  const chosen = p.nsClone ?? p.nsKeep;
  if (chosen && !made.has("mnt"))
    throw refuse(
      chosen,
      "lxt sets a container up in a mount namespace of its own: mnt cannot be kept",
      "unsupported",
    );
  // lxc.net.N.type = none is the starter's network namespace, as in LXC.
  if (inp.sharesHostNet) made.delete("net");
  return made;
}

/** /proc/PID/ns/NS of a running container, by name in this state root or by its directory. */
function containerNs(ctx: Context, s: Setting<string>, ns: string, paths: ContainerPaths): string {
  const v = s.value;
  const target = v.startsWith("/")
    ? containerPaths(ctx, basename(v), dirname(v))
    : containerPaths(ctx, v);
  if (target.dir === paths.dir) throw refuse(s, "a container cannot share its own namespace");
  const seen = observe(ctx, target);
  if (!seen.init || (seen.state !== "RUNNING" && seen.state !== "FROZEN"))
    throw new LxtError(
      "state",
      `${where(s)}: container ${target.name} (${target.lxcpath}) is not running (${seen.state}): start it first`,
    );
  return `/proc/${seen.init.pid}/ns/${ns}`;
}

/** Where `lxc.namespace.share.NS` points: a pid, a container, or a namespace file. */
function sharePath(ctx: Context, s: Setting<string>, ns: string, paths: ContainerPaths): string {
  const v = s.value;
  if (/^\d+$/.test(v)) {
    const path = `/proc/${v}/ns/${ns}`;
    if (!existsSync(path)) throw refuse(s, `no process ${v} (no ${path})`);
    return path;
  }
  if (v.startsWith("/")) {
    // LXC's manual: "the full path to the container"; its code: a namespace file.
    if (existsSync(join(v, "config"))) return containerNs(ctx, s, ns, paths);
    if (!existsSync(v)) throw refuse(s, `${v}: no such namespace file or container directory`);
    return v;
  }
  if (v.includes("/"))
    throw refuse(s, `"${v}": expected a pid, a container name, or an absolute path`);
  return containerNs(ctx, s, ns, paths);
}

function readMap(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** `u 0 100000 65536` lines of a /proc/PID/{uid,gid}_map, sorted, to compare with the config's. */
function mapOf(text: string, kind: "u" | "g"): string[] {
  return text
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3)
    .map((f) => `${kind} ${f.join(" ")}`)
    .sort();
}

/** Sharing a user namespace takes the container's map to be that namespace's (LXC writes none then). */
function checkUserShare(
  s: Setting<string>,
  path: string,
  idmap: readonly IdmapLine[],
  inp: ProcessInput,
) {
  if (inp.idmap !== "config")
    throw refuse(
      s,
      "joining a user namespace needs the container's lxc.idmap lines to be that namespace's map (lxt writes no map then)",
    );
  const dir = dirname(path);
  const theirs = [
    ...mapOf(readMap(join(dir, "..", "uid_map")), "u"),
    ...mapOf(readMap(join(dir, "..", "gid_map")), "g"),
  ].sort();
  const ours = idmap.map((l) => `${l.kind} ${l.nsid} ${l.hostid} ${l.range}`).sort();
  if (/^\/proc\/\d+\/ns\/user$/.test(path) && theirs.join(",") !== ours.join(","))
    throw refuse(
      s,
      `the container's id map (${ours.join(", ")}) is not the shared user namespace's (${theirs.join(", ") || "unreadable"})`,
    );
}

/**
 * Decides the namespaces and the `opt` records of a start; throws a
 * config/unsupported/state/host error naming the key, file and line.
 */
export function planProcess(ctx: Context, inp: ProcessInput): ProcessPlan {
  const cfg = inp.config;
  const p = cfg.process;
  const made = madeNamespaces(inp);
  const records: OptRecord[] = [];
  let userShared = false;
  for (const [ns, s] of Object.entries(p.nsShare)) {
    if (ns === "mnt")
      throw refuse(
        s,
        "lxt sets a container up in a mount namespace of its own (its rootfs is pivoted there): a mount namespace cannot be shared",
        "unsupported",
      );
    const path = sharePath(ctx, s, ns, inp.paths);
    if (ns === "user") {
      checkUserShare(s, path, cfg.security.idmap, inp);
      userShared = true;
    }
    const offsets = p.timeOffset.boot ?? p.timeOffset.monotonic;
    if (ns === "time" && offsets)
      throw refuse(s, `a shared time namespace takes no offset (${offsets.key})`);
    made.delete(ns);
    records.push(["ns-share", ns, path]);
  }
  const netMade = made.has("net");
  if (!netMade && inp.nicTypes.length > 0) {
    const s = p.nsShare.net ?? p.nsKeep ?? p.nsClone;
    if (s)
      throw refuse(
        s,
        `the network namespace is not the container's own, so it can have no ${inp.nicTypes[0]} NIC: remove the lxc.net.N entries`,
      );
  }
  if (!made.has("uts") && cfg.utsName !== undefined) {
    const s = p.nsShare.uts ?? p.nsKeep ?? p.nsClone;
    if (s)
      throw refuse(
        s,
        "with a UTS namespace that is not the container's own, lxc.uts.name would rename another's host: remove it",
      );
  }
  checkSysctls(cfg, made, p);
  if (made.has("time")) {
    const b = p.timeOffset.boot?.value ?? { sec: 0n, nsec: 0 };
    const m = p.timeOffset.monotonic?.value ?? { sec: 0n, nsec: 0 };
    records.push(["timens", String(b.sec), String(b.nsec), String(m.sec), String(m.nsec)]);
  }
  for (const s of p.proc) records.push(["proc", s.value.file, s.value.value]);
  if (p.initGroups) records.push(["groups", p.initGroups.value.join(",")]);
  if (p.keyringSession) records.push(["keyring", "new"]);
  if (p.schedCore) {
    // LXC: "Core scheduling currently requires a separate pid namespace".
    if (!made.has("pid"))
      throw refuse(p.schedCore, "core scheduling needs a pid namespace of the container's own");
    records.push(["sched-core", "create"]);
  }
  if (p.pdeath) {
    if (p.pdeath.value === 0)
      throw refuse(
        p.pdeath,
        "0 lets the init outlive its monitor, but a container belongs to its monitor in lxt: the next command would find it stale and kill it (docs/ARCHITECTURE.md, Truth after crashes)",
        "unsupported",
      );
    if (p.pdeath.value !== 9) records.push(["pdeath", String(p.pdeath.value)]);
  }
  if (cfg.arch32) records.push(["personality", String(PER_LINUX32)]);
  if (p.monitorUnshare) {
    if (inp.nicTypes.includes("phys"))
      throw refuse(
        p.monitorUnshare,
        "a phys NIC's network namespace is pinned by a bind mount the host must see, which a monitor in a mount namespace of its own would hide",
        "unsupported",
      );
    records.push(["monitor-unshare", "mnt"]);
  }
  checkSelinux(ctx, cfg);
  made.delete("user");
  made.delete("time");
  return {
    namespaces: ["pid", "mnt", "uts", "ipc", "net", "cgroup"].filter((n) => made.has(n)),
    userns: inp.idmap !== "privileged" && !userShared,
    userShared,
    ownUts: made.has("uts"),
    records,
  };
}

/**
 * The `seccomp-proxy` record when the filter has notify rules (LXC connects
 * to its proxy only then); such rules without a proxy are refused.
 */
export function seccompProxyRecords(
  cfg: ContainerConfig,
  filter: { rules: readonly { action: string }[] } | undefined,
): OptRecord[] {
  if (!filter?.rules.some((r) => r.action === "notify")) return [];
  const proxy = cfg.process.seccompProxy;
  if (!proxy) {
    const at = cfg.security.seccompProfile;
    throw new LxtError(
      "config",
      `${at?.file}:${at?.line}: lxc.seccomp.profile: notify rules need lxc.seccomp.notify.proxy (the socket their syscalls are forwarded to)`,
    );
  }
  return [["seccomp-proxy", proxy.value, cfg.process.seccompCookie ?? ""]];
}

/** The namespace a (namespaced) sysctl belongs to. */
function sysctlNamespace(key: string): string {
  if (key.startsWith("net.")) return "net";
  if (key === "kernel.hostname" || key === "kernel.domainname") return "uts";
  return "ipc"; // kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* (values.ts checks the rest)
}

/** A sysctl of a namespace the container joins or keeps would set another's (the host's). */
function checkSysctls(
  cfg: ContainerConfig,
  made: Set<string>,
  p: ContainerConfig["process"],
): void {
  for (const s of cfg.sysctls) {
    const ns = sysctlNamespace(s.key);
    const why = p.nsShare[ns] ?? (made.has(ns) ? undefined : (p.nsKeep ?? p.nsClone));
    if (!why) continue;
    const e = [...cfg.entries].reverse().find((x) => x.key === `lxc.sysctl.${s.key}`);
    throw new LxtError(
      "config",
      `${e?.file}:${e?.line}: lxc.sysctl.${s.key}: the ${ns} namespace is not the container's own (${where(why)}), so this would set another's`,
    );
  }
}

/** `lxc.selinux.context*`: only unconfined_t runs where the host has no SELinux (as LXC refuses). */
function checkSelinux(ctx: Context, cfg: ContainerConfig): void {
  const set = new Map<string, { value: string; file: string; line: number }>();
  for (const e of cfg.entries) {
    if (e.key === "lxc.selinux.context" || e.key === "lxc.selinux.context.keyring") {
      if (e.value === "") set.delete(e.key);
      else set.set(e.key, e);
    }
  }
  for (const [key, e] of set) {
    if (key === "lxc.selinux.context" && e.value === "unconfined_t") continue;
    const why = ctx.host.facts.selinux()
      ? "lxt does not apply SELinux contexts (only unconfined_t is accepted)"
      : "the host has no SELinux (no selinuxfs mounted at /sys/fs/selinux)";
    throw new LxtError("host", `${e.file}:${e.line}: ${key} = ${e.value}: ${why}`);
  }
}

/**
 * The failure of an `opt` step as the config's: the key that asked for it
 * and what the kernel said; undefined for any other failure.
 */
export function processFailure(f: HelperFailure, cfg: ContainerConfig): LxtError | undefined {
  const p = cfg.process;
  const why = describeErrno(f.errno);
  const at = (s: Setting<unknown> | undefined, what: string, code: "host" | "start" = "start") =>
    s ? new LxtError(code, `${where(s)}: ${what}: ${why}`, f) : undefined;
  switch (f.stage) {
    case "sched-core":
      return f.errno === 22
        ? at(p.schedCore, "the kernel has no core scheduling (prctl PR_SCHED_CORE)", "host")
        : at(p.schedCore, "prctl PR_SCHED_CORE_CREATE");
    case "proc": {
      const s = p.proc.find((x) => f.path.endsWith(`/${x.value.file}`));
      return at(s, `write ${JSON.stringify(s?.value.value)} to ${f.path}`);
    }
    case "seccomp-notify":
      return at(p.seccompProxy, `${f.op} to the proxy ${f.path}`);
    case "keyring":
      return new LxtError(
        "start",
        `lxc.keyring.session: a new session keyring (keyctl): ${why}`,
        f,
      );
    case "personality":
      return new LxtError("host", `lxc.arch: personality PER_LINUX32: ${why}`, f);
    case "namespace": {
      if (f.path.includes("timens_offsets") || (f.op === "unshare" && f.path === "time")) {
        const s = p.timeOffset.boot ?? p.timeOffset.monotonic;
        return s
          ? at(s, `the time namespace (${f.op} ${f.path})`)
          : new LxtError("host", `a time namespace (${f.op} ${f.path}): ${why}`, f);
      }
      if (f.op === "unshare" && f.path === "mnt")
        return at(p.monitorUnshare, "unshare the monitor's mount namespace");
      const s = p.nsShare[f.op];
      return at(s, `join the ${f.op} namespace ${f.path}`);
    }
  }
  return undefined;
}
