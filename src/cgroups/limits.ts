/**
 * Resource limits as cgroup file writes. Pure translation first: friendly
 * `Limits` and LXC's raw `lxc.cgroup.*` / `lxc.cgroup2.*` settings become a
 * list of `LimitWrite`s, each aimed at the hierarchy that holds its
 * controller (per controller, so a hybrid host uses v1 where v1 has the
 * controller and v2 otherwise). Then `targetWrites` places them in a
 * container's dirs and `applyLimitWrites` writes them through `CgroupFs`.
 *
 * Conversions (cgroups(7); Documentation/admin-guide/cgroup-v2.rst):
 * - CPU count N: CFS quota N * 100 ms per 100 ms period (`cpu.max` "Q P";
 *   v1 `cpu.cfs_period_us` then `cpu.cfs_quota_us`).
 * - CPU weight W (v2, 1..10000, default 100) to v1 shares: W * 1024 / 100,
 *   clamped to 2..262144, systemd's `cgroup_cpu_weight_to_shares`, so the
 *   defaults map onto each other (100 <-> 1024). (runc/crun convert the other
 *   way, shares to weight, with 1 + (S - 2) * 9999 / 262142.)
 * - I/O weight W to v1 `blkio.weight`: W * 500 / 100 clamped to 10..1000,
 *   systemd's `cgroup_weight_io_to_blkio`.
 * - Swap S on top of memory M: v2 `memory.swap.max` = S (swap alone); v1
 *   `memory.memsw.limit_in_bytes` = M + S (memory plus swap).
 */

import { posix } from "node:path";
import type { IoLimit, LimitOrigins, Limits } from "../config/limits.js";
import { CPU_PERIOD_US } from "../config/limits.js";
import type { CgroupSetting, ContainerConfig } from "../config/model.js";
import { configError, errnoCode, LxtError } from "../core/errors.js";
import type { CgroupFs } from "../host/cgroup-fs.js";
import type { LimitHost } from "../host/machine.js";
import type { ContainerCgroupDirs } from "./container.js";
import { type CgroupLayout, v1DirWith } from "./layout.js";

/** Where a write came from: a config key, and its file and line when there is one. */
export interface WriteOrigin {
  key: string;
  file?: string;
  line?: number;
}

/** One cgroup file write, not yet placed in a directory. */
export interface LimitWrite {
  version: 1 | 2;
  /** The controller whose hierarchy holds the file (`cgroup` for v2 core files). */
  controller: string;
  file: string;
  value: string;
  /** Files tried in order when `file` does not exist (v1 BFQ's `blkio.bfq.weight`). */
  alternatives?: string[];
  origin: WriteOrigin;
}

/** A write placed in one of the container's dirs. */
export interface TargetedWrite extends LimitWrite {
  dir: string;
}

/** Controllers of friendly limits: v1 and v2 names differ for I/O only. */
const CONTROLLERS = {
  memory: { v1: "memory", v2: "memory" },
  cpu: { v1: "cpu", v2: "cpu" },
  cpuset: { v1: "cpuset", v2: "cpuset" },
  pids: { v1: "pids", v2: "pids" },
  io: { v1: "blkio", v2: "io" },
} as const;
type Controller = keyof typeof CONTROLLERS;

/**
 * Which version handles `controller` on this layout: a v1 hierarchy that has
 * it, else the v2 hierarchy when this process's cgroup offers it
 * (`cgroup.controllers`); undefined when neither does.
 */
export function controllerVersion(layout: CgroupLayout, controller: Controller): 1 | 2 | undefined {
  const names = CONTROLLERS[controller];
  if (layout.hierarchies.some((h) => h.version === 1 && h.controllers.includes(names.v1))) return 1;
  if (layout.hierarchies.some((h) => h.version === 2 && h.controllers.includes(names.v2))) return 2;
  return undefined;
}

/**
 * Every limit of a resolved config as writes: friendly limits first, then
 * LXC's raw lines, so that a raw line has the last word on its file (as
 * LXD applies `raw.lxc` after its own keys).
 */
export function planLimitWrites(
  cfg: Pick<ContainerConfig, "limits" | "limitOrigins" | "cgroup">,
  layout: CgroupLayout,
  host: LimitHost,
): LimitWrite[] {
  return [
    ...translateLimits(cfg.limits, cfg.limitOrigins, (c) => controllerVersion(layout, c), host),
    ...rawCgroupWrites(cfg.cgroup),
  ];
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** systemd's `cgroup_cpu_weight_to_shares`: 100 -> 1024, clamped to 2..262144. */
export function cpuWeightToShares(weight: number): number {
  return clamp(Math.floor((weight * 1024) / 100), 2, 262144);
}

/** systemd's `cgroup_weight_io_to_blkio`: 100 -> 500, clamped to 10..1000. */
export function ioWeightToBlkio(weight: number): number {
  return clamp(Math.floor((weight * 500) / 100), 10, 1000);
}

/** A CPU count as a CFS quota in microseconds per `CPU_PERIOD_US`. */
export function cpuQuotaUs(cpus: number): number {
  return Math.round(cpus * CPU_PERIOD_US);
}

/** Memory limit in bytes: a percentage of RAM is rounded down to a 4 KiB page. */
export function memoryBytes(amount: NonNullable<Limits["memory"]>, memTotal: number): number {
  if ("bytes" in amount) return amount.bytes;
  return Math.floor((memTotal * amount.percent) / 100 / 4096) * 4096;
}

/**
 * Translates friendly limits into writes. `versionOf` says which version
 * handles each controller (see `controllerVersion`).
 *
 * @throws LxtError("config") naming the key (and its file and line) when no
 *   hierarchy has the controller, a device cannot be resolved, or (v1) swap
 *   is set without a memory limit.
 */
export function translateLimits(
  limits: Limits,
  origins: LimitOrigins,
  versionOf: (c: Controller) => 1 | 2 | undefined,
  host: LimitHost,
): LimitWrite[] {
  const out: LimitWrite[] = [];
  const origin = (key: string): WriteOrigin => ({ key, ...origins[key] });
  const fail = (key: string, msg: string) => {
    const o = origins[key];
    return o
      ? configError(o.file, o.line, `${key}: ${msg}`)
      : new LxtError("config", `${key}: ${msg}`);
  };
  const need = (key: string, c: Controller): 1 | 2 => {
    const v = versionOf(c);
    if (v === undefined)
      throw fail(
        key,
        `no ${c} controller available to lxt's cgroup (not mounted, or not delegated on cgroup v2)`,
      );
    return v;
  };
  const add = (key: string, version: 1 | 2, c: Controller, file: string, value: string) => {
    out.push({
      version,
      controller: CONTROLLERS[c][version === 1 ? "v1" : "v2"],
      file,
      value,
      origin: origin(key),
    });
  };

  const mem = limits.memory === undefined ? undefined : memoryBytes(limits.memory, host.memTotal);
  if (mem !== undefined) {
    const v = need("lxt.limits.memory", "memory");
    add(
      "lxt.limits.memory",
      v,
      "memory",
      v === 2 ? "memory.max" : "memory.limit_in_bytes",
      String(mem),
    );
  }
  if (limits.memorySwap !== undefined) {
    const key = "lxt.limits.memory.swap";
    const v = need(key, "memory");
    if (v === 2) add(key, 2, "memory", "memory.swap.max", String(limits.memorySwap));
    else if (mem === undefined)
      throw fail(
        key,
        "needs lxt.limits.memory on cgroup v1 (memory.memsw.limit_in_bytes bounds memory plus swap)",
      );
    // memory.limit_in_bytes is written first: memsw may never be below it.
    else add(key, 1, "memory", "memory.memsw.limit_in_bytes", String(mem + limits.memorySwap));
  }
  if (limits.cpu !== undefined) {
    const key = "lxt.limits.cpu";
    const v = need(key, "cpu");
    const quota = cpuQuotaUs(limits.cpu);
    if (v === 2) add(key, 2, "cpu", "cpu.max", `${quota} ${CPU_PERIOD_US}`);
    else {
      add(key, 1, "cpu", "cpu.cfs_period_us", String(CPU_PERIOD_US));
      add(key, 1, "cpu", "cpu.cfs_quota_us", String(quota));
    }
  }
  if (limits.cpuSet !== undefined) {
    const key = "lxt.limits.cpu.set";
    add(key, need(key, "cpuset"), "cpuset", "cpuset.cpus", limits.cpuSet);
  }
  if (limits.cpuWeight !== undefined) {
    const key = "lxt.limits.cpu.weight";
    const v = need(key, "cpu");
    if (v === 2) add(key, 2, "cpu", "cpu.weight", String(limits.cpuWeight));
    else add(key, 1, "cpu", "cpu.shares", String(cpuWeightToShares(limits.cpuWeight)));
  }
  if (limits.processes !== undefined) {
    const key = "lxt.limits.processes";
    add(key, need(key, "pids"), "pids", "pids.max", String(limits.processes));
  }
  out.push(...translateIo(limits, host, origin, need, fail));
  if (limits.ioWeight !== undefined) {
    const key = "lxt.limits.io.weight";
    const v = need(key, "io");
    if (v === 2) add(key, 2, "io", "io.weight", `default ${limits.ioWeight}`);
    else
      out.push({
        version: 1,
        controller: "blkio",
        file: "blkio.weight",
        value: String(ioWeightToBlkio(limits.ioWeight)),
        alternatives: ["blkio.bfq.weight"],
        origin: origin(key),
      });
  }
  return out;
}

const IO_KEYS = [
  ["ioReadBps", "lxt.limits.io.read.bps", "rbps", "blkio.throttle.read_bps_device"],
  ["ioWriteBps", "lxt.limits.io.write.bps", "wbps", "blkio.throttle.write_bps_device"],
  ["ioReadIops", "lxt.limits.io.read.iops", "riops", "blkio.throttle.read_iops_device"],
  ["ioWriteIops", "lxt.limits.io.write.iops", "wiops", "blkio.throttle.write_iops_device"],
] as const;

function translateIo(
  limits: Limits,
  host: LimitHost,
  origin: (key: string) => WriteOrigin,
  need: (key: string, c: Controller) => 1 | 2,
  fail: (key: string, msg: string) => LxtError,
): LimitWrite[] {
  const out: LimitWrite[] = [];
  const devnum = (key: string, l: IoLimit): string => {
    if (/^\d+:\d+$/.test(l.device)) return l.device;
    try {
      return host.deviceNumber(l.device);
    } catch (err) {
      throw fail(key, `${l.device}: ${(err as Error).message}`);
    }
  };
  // v2 io.max takes every limit of a device on one line.
  const v2Lines = new Map<string, { parts: string[]; key: string }>();
  for (const [field, key, v2Name, v1File] of IO_KEYS) {
    if (limits[field].length === 0) continue;
    const v = need(key, "io");
    for (const l of limits[field]) {
      const dev = devnum(key, l);
      if (v === 1) {
        out.push({
          version: 1,
          controller: "blkio",
          file: v1File,
          value: `${dev} ${l.value}`,
          origin: origin(key),
        });
        continue;
      }
      const line = v2Lines.get(dev) ?? { parts: [], key };
      line.parts.push(`${v2Name}=${l.value}`);
      v2Lines.set(dev, line);
    }
  }
  for (const [dev, { parts, key }] of v2Lines) {
    out.push({
      version: 2,
      controller: "io",
      file: "io.max",
      value: `${dev} ${parts.join(" ")}`,
      origin: origin(key),
    });
  }
  return out;
}

/** The controller a cgroup file belongs to: its name up to the first dot (`memory.max` -> memory). */
export function controllerOfFile(file: string): string {
  const dot = file.indexOf(".");
  return dot < 0 ? file : file.slice(0, dot);
}

/**
 * LXC's raw settings as writes, in LXC's order: v1 lines in file order
 * except that `memory.limit_in_bytes` is moved before a
 * `memory.memsw.limit_in_bytes` that preceded it (LXC's
 * `sort_cgroup_settings`), then v2 lines in file order.
 */
export function rawCgroupWrites(settings: {
  v1: CgroupSetting[];
  v2: CgroupSetting[];
}): LimitWrite[] {
  // devices.allow / devices.deny are the device allowlist's (devices.ts), applied with it.
  const notDevices = (s: CgroupSetting) => !s.file.startsWith("devices.");
  const v1 = settings.v1.filter(notDevices);
  let memsw = -1;
  for (let i = 0; i < v1.length; i++) {
    const s = v1[i] as CgroupSetting;
    if (s.file === "memory.memsw.limit_in_bytes" && memsw < 0) memsw = i;
    else if (s.file === "memory.limit_in_bytes" && memsw >= 0) {
      v1[i] = v1[memsw] as CgroupSetting;
      v1[memsw] = s;
      memsw = i;
    }
  }
  const write = (version: 1 | 2, s: CgroupSetting): LimitWrite => ({
    version,
    controller: controllerOfFile(s.file),
    file: s.file,
    value: s.value,
    origin: { key: s.key, file: s.at.file, line: s.at.line },
  });
  return [...v1.map((s) => write(1, s)), ...settings.v2.filter(notDevices).map((s) => write(2, s))];
}

function describe(o: WriteOrigin): string {
  return o.file !== undefined ? `${o.file}:${o.line}: ${o.key}` : o.key;
}

/**
 * Places writes in a container's dirs: v1 writes in the dir of the hierarchy
 * with their controller, v2 writes in the v2 dir.
 *
 * @throws LxtError("config") naming the origin when there is no such dir
 *   (LXC: "the controller seems to be unused ... or not enabled").
 */
export function targetWrites(
  writes: LimitWrite[],
  dirs: ContainerCgroupDirs,
  layout: CgroupLayout,
): TargetedWrite[] {
  return writes.map((w) => {
    let dir: string | undefined;
    if (w.version === 2) dir = dirs.v2;
    else {
      dir = v1DirWith(dirs.v1, layout, w.controller);
    }
    if (dir === undefined) {
      throw new LxtError(
        "config",
        `${describe(w.origin)}: no cgroup v${w.version} hierarchy with the ${w.controller} controller for ${w.file}`,
      );
    }
    return { ...w, dir };
  });
}

/**
 * The dir of a running container's cgroup that holds `file` (as lxc-cgroup
 * finds it): the v1 hierarchy with the file's controller, else the v2 dir.
 *
 * @throws LxtError("usage") for a name that is not a plain cgroup file name,
 *   LxtError("not-found") when no dir fits.
 */
export function dirForFile(file: string, dirs: ContainerCgroupDirs, layout: CgroupLayout): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(file) || !file.includes(".")) {
    throw new LxtError(
      "usage",
      `cgroup file ${JSON.stringify(file)}: expected a name such as memory.max`,
    );
  }
  const controller = controllerOfFile(file);
  const v1 = v1DirWith(dirs.v1, layout, controller);
  const dir = v1 ?? dirs.v2;
  if (dir === undefined)
    throw new LxtError(
      "not-found",
      `cgroup file ${file}: no hierarchy with the ${controller} controller`,
    );
  return dir;
}

/**
 * On v2, a controller's files appear in the container's dir only once the
 * parent enables it in `cgroup.subtree_control`. `start` arranges that first
 * (delegation.ts, which may move lxt into a monitor leaf); this is the last
 * check for a controller still off, e.g. for `config set` on a container
 * started without limits from a shared cgroup.
 */
function enableV2Controller(w: TargetedWrite, fs: CgroupFs): void {
  if (w.controller === "cgroup" || fs.exists(`${w.dir}/${w.file}`)) return;
  const parent = posix.dirname(w.dir);
  const control = `${parent}/cgroup.subtree_control`;
  try {
    const enabled = fs.readFile(control).split(/\s+/);
    if (enabled.includes(w.controller)) return;
    fs.writeFile(control, `+${w.controller}`);
  } catch (err) {
    const code = errnoCode(err);
    const why =
      code === "EBUSY"
        ? `${parent} holds processes (cgroups(7) "no internal processes" rule); restart the container as the only process of a delegated cgroup, e.g. \`systemd-run --scope -p Delegate=yes lxt start\` (docs/config.md, "cgroup v2 delegation")`
        : code === "ENOENT" || code === "EINVAL"
          ? `the ${w.controller} controller is not available there`
          : (err as Error).message;
    throw new LxtError(
      "host",
      `${describe(w.origin)}: enable the ${w.controller} controller in ${control}: ${why}`,
      err,
    );
  }
}

function writeOne(w: TargetedWrite, fs: CgroupFs): void {
  const candidates = [w.file, ...(w.alternatives ?? [])];
  const file = candidates.find((f) => fs.exists(`${w.dir}/${f}`)) ?? w.file;
  fs.writeFile(`${w.dir}/${file}`, w.value);
}

function writeError(w: TargetedWrite, err: unknown): LxtError {
  const code = errnoCode(err);
  const what = `${describe(w.origin)}: write "${w.value}" to ${w.dir}/${w.file}`;
  if (code === "ENOENT")
    return new LxtError(
      "config",
      `${what}: no such cgroup file (controller not enabled, or a typo?)`,
      err,
    );
  const bad = code === "EINVAL" || code === "ERANGE" || code === "EOVERFLOW";
  return new LxtError(bad ? "config" : "system", `${what}: ${(err as Error).message}`, err);
}

/**
 * Writes limits in order. A write the kernel refuses with EINVAL or EBUSY is
 * tried once more after the others, since some pairs depend on order (v1
 * `memory.limit_in_bytes` may not exceed `memory.memsw.limit_in_bytes`, so
 * raising both needs memsw first, lowering needs the limit first).
 *
 * @throws LxtError naming the key, its file and line, the cgroup file and the errno.
 */
export function applyLimitWrites(writes: TargetedWrite[], fs: CgroupFs): void {
  const retry: { w: TargetedWrite; err: unknown }[] = [];
  for (const w of writes) {
    if (w.version === 2) enableV2Controller(w, fs);
    try {
      writeOne(w, fs);
    } catch (err) {
      const code = errnoCode(err);
      if (code !== "EINVAL" && code !== "EBUSY") throw writeError(w, err);
      retry.push({ w, err });
    }
  }
  for (const { w } of retry) {
    try {
      writeOne(w, fs);
    } catch (err) {
      throw writeError(w, err);
    }
  }
}
