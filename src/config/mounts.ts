/**
 * lxc.mount.entry / lxc.mount.fstab lines (fstab(5) format plus LXC's own
 * options) and lxc.mount.auto tokens.
 */

import * as path from "node:path";
import { configError } from "../core/errors.js";
import { splitLines } from "./parse.js";
import { ValueError } from "./values.js";

/** One mount, fully resolved: what `lxc.mount.entry` and `lxc.mount.auto` become. */
export interface PlanMount {
  source: string;
  /** Inside the container: an absolute path resolved beneath its root. */
  target: string;
  fstype: string;
  flags: number;
  data: string;
  /** Non-zero: remount with MS_REMOUNT|MS_BIND|remountFlags afterwards (read-only binds). */
  remountFlags: number;
  optional?: boolean;
  createDir?: boolean;
  createFile?: boolean;
  /** The source is a path inside the container, not on the host. */
  sourceInRoot?: boolean;
  /**
   * An idmapped bind (`idmap=`): `container` or an nsfs path naming the
   * user namespace the monitor idmaps the source's tree to.
   */
  idmap?: string;
}

/** A bind of host path `source` at `target` inside the container, with `extra` set (optional, createDir...). */
export function hostBind(
  source: string,
  target: string,
  extra: Partial<PlanMount> = {},
): PlanMount {
  return { source, target, fstype: "", flags: MS.BIND, data: "", remountFlags: 0, ...extra };
}

/** mount(2) flags, <sys/mount.h>. */
export const MS = {
  RDONLY: 1,
  NOSUID: 2,
  NODEV: 4,
  NOEXEC: 8,
  SYNCHRONOUS: 16,
  REMOUNT: 32,
  MANDLOCK: 64,
  DIRSYNC: 128,
  NOSYMFOLLOW: 256,
  NOATIME: 1024,
  NODIRATIME: 2048,
  BIND: 4096,
  MOVE: 8192,
  REC: 16384,
  UNBINDABLE: 1 << 17,
  PRIVATE: 1 << 18,
  SLAVE: 1 << 19,
  SHARED: 1 << 20,
  RELATIME: 1 << 21,
  STRICTATIME: 1 << 24,
  LAZYTIME: 1 << 25,
} as const;

/** Flags the kernel keeps per mount (mount_setattr(2)), not per superblock: a bind's remount sets them. */
export const PER_MOUNT_FLAGS =
  MS.RDONLY |
  MS.NOSUID |
  MS.NODEV |
  MS.NOEXEC |
  MS.NOATIME |
  MS.NODIRATIME |
  MS.RELATIME |
  MS.STRICTATIME;

/** mount(8) flag options as `[set?, flag]`: set=false means the option clears the flag (LXC's mount_opt). */
export const FLAG_OPTS: Record<string, [boolean, number]> = {
  async: [false, MS.SYNCHRONOUS],
  atime: [false, MS.NOATIME],
  bind: [true, MS.BIND],
  defaults: [true, 0],
  dev: [false, MS.NODEV],
  diratime: [false, MS.NODIRATIME],
  dirsync: [true, MS.DIRSYNC],
  exec: [false, MS.NOEXEC],
  lazytime: [true, MS.LAZYTIME],
  mand: [true, MS.MANDLOCK],
  noatime: [true, MS.NOATIME],
  nodev: [true, MS.NODEV],
  nodiratime: [true, MS.NODIRATIME],
  noexec: [true, MS.NOEXEC],
  nomand: [false, MS.MANDLOCK],
  norelatime: [false, MS.RELATIME],
  nostrictatime: [false, MS.STRICTATIME],
  nosuid: [true, MS.NOSUID],
  nosymfollow: [true, MS.NOSYMFOLLOW],
  rbind: [true, MS.BIND | MS.REC],
  relatime: [true, MS.RELATIME],
  remount: [true, MS.REMOUNT],
  ro: [true, MS.RDONLY],
  rw: [false, MS.RDONLY],
  strictatime: [true, MS.STRICTATIME],
  suid: [false, MS.NOSUID],
  sync: [true, MS.SYNCHRONOUS],
};

const PROPAGATION_OPTS: Record<string, number> = {
  private: MS.PRIVATE,
  shared: MS.SHARED,
  slave: MS.SLAVE,
  unbindable: MS.UNBINDABLE,
  rprivate: MS.PRIVATE | MS.REC,
  rshared: MS.SHARED | MS.REC,
  rslave: MS.SLAVE | MS.REC,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** One parsed mount line. */
export interface MountEntry {
  /** Source as written; relative to the rootfs when `relative` is set. */
  source: string;
  /** Target inside the container, relative to the rootfs (no leading `/`). */
  target: string;
  /** The target was written as an absolute path. */
  targetAbsolute: boolean;
  fstype: string;
  /** MS_* flags for the mount (MS_BIND, MS_REC, MS_RDONLY, ...). */
  flags: number;
  /** MS_SHARED/PRIVATE/SLAVE/UNBINDABLE (| MS_REC), applied after mounting. */
  propagation: number;
  /** Filesystem-specific options passed as mount(2) data, comma-joined. */
  data: string;
  /** The options field as written. */
  options: string;
  /** A bind mount whose flags (ro, nosuid, ...) need a second MS_REMOUNT. */
  needsRemount: boolean;
  optional: boolean;
  createDir: boolean;
  createFile: boolean;
  relative: boolean;
  /** LXC's `idmap=` option (idmapped mounts), if present. */
  idmap?: string;
  dump: number;
  pass: number;
}

/** fstab(5) octal escapes: \040 space, \011 tab, \012 newline, \134 backslash. */
function unescapeField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) =>
    String.fromCharCode(Number.parseInt(oct, 8)),
  );
}

/** Makes a target relative to the container root; refuses to leave it. */
export function normalizeTarget(target: string): string {
  const rel = path.posix.normalize(target.replace(/^\/+/, ""));
  if (rel === "." || rel === "" || rel === ".." || rel.startsWith("../")) {
    throw new ValueError(`invalid mount target "${target}": expected a path inside the container`);
  }
  return rel.replace(/\/+$/, "");
}

/**
 * Parses one fstab-format line: `source target fstype [options [dump [pass]]]`.
 * Options are mount(8) flags, propagation flags, LXC's `create=dir`,
 * `create=file`, `optional`, `relative` and `idmap=`; anything else is
 * filesystem data (`mode=755`, `size=64k`).
 */
export function parseMountEntry(value: string): MountEntry {
  const fields = value.split(/[ \t]+/).filter((f) => f !== "");
  const expected = "an fstab line: source target fstype options dump pass";
  if (fields.length < 3 || fields.length > 6) {
    throw new ValueError(`invalid mount entry "${value}": expected ${expected}`);
  }
  const [source, target, fstype, options = "defaults", dump = "0", pass = "0"] = fields.map(
    unescapeField,
  ) as [string, string, string, string?, string?, string?];
  if (!/^\d+$/.test(dump) || !/^\d+$/.test(pass)) {
    throw new ValueError(`invalid mount entry "${value}": dump and pass must be numbers`);
  }
  const entry: MountEntry = {
    source,
    target: normalizeTarget(target),
    targetAbsolute: target.startsWith("/"),
    fstype,
    flags: 0,
    propagation: 0,
    data: "",
    options,
    needsRemount: false,
    optional: false,
    createDir: false,
    createFile: false,
    relative: false,
    dump: Number(dump),
    pass: Number(pass),
  };
  const data: string[] = [];
  for (const opt of options.split(",")) {
    if (opt === "") continue;
    const flag = FLAG_OPTS[opt];
    if (flag) {
      entry.flags = flag[0] ? entry.flags | flag[1] : entry.flags & ~flag[1];
    } else if (opt in PROPAGATION_OPTS) {
      entry.propagation |= PROPAGATION_OPTS[opt] as number;
    } else if (opt === "optional") {
      entry.optional = true;
    } else if (opt === "relative") {
      entry.relative = true;
    } else if (opt.startsWith("create=")) {
      const what = opt.slice("create=".length);
      if (what === "dir") entry.createDir = true;
      else if (what === "file") entry.createFile = true;
      else
        throw new ValueError(`invalid mount option "${opt}": expected create=dir or create=file`);
    } else if (opt.startsWith("idmap=")) {
      const ns = opt.slice("idmap=".length);
      if (ns !== "container" && !ns.startsWith("/"))
        throw new ValueError(
          `invalid mount option "${opt}": expected idmap=container or idmap=PATH (a user namespace file, e.g. /proc/PID/ns/user)`,
        );
      entry.idmap = ns;
    } else {
      data.push(opt);
    }
  }
  if (entry.createDir && entry.createFile) {
    throw new ValueError(`invalid mount entry "${value}": create=dir and create=file together`);
  }
  entry.data = data.join(",");
  const bind = (entry.flags & MS.BIND) !== 0;
  // A bind mount ignores other flags; LXC remounts it to apply them.
  entry.needsRemount = bind && (entry.flags & ~(MS.BIND | MS.REC | MS.REMOUNT)) !== 0;
  return entry;
}

/** A MountEntry with the place of its line (for fstab files). */
export type PlacedMountEntry = MountEntry & { file: string; line: number };

/** Parses an fstab file's text; `#` comments and blank lines are skipped. */
export function parseFstabText(text: string, file: string): PlacedMountEntry[] {
  const out: PlacedMountEntry[] = [];
  splitLines(text).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    try {
      out.push({ ...parseMountEntry(line), file, line: i + 1 });
    } catch (err) {
      if (err instanceof ValueError) throw configError(file, i + 1, err.message);
      throw err;
    }
  });
  return out;
}

/** What lxc.mount.auto asks for; unset parts are not mounted. */
export interface MountAuto {
  proc?: "mixed" | "rw";
  sys?: "mixed" | "ro" | "rw";
  cgroup?: {
    /** `unspecified` for bare `cgroup`: rw with CAP_SYS_ADMIN, else mixed. */
    mode: "mixed" | "ro" | "rw" | "unspecified";
    /** `cgroup-full`: bind the host's whole hierarchy (read-only outside). */
    full: boolean;
    force: boolean;
  };
  /** `shmounts:HOST[:CONTAINER]`: HOST bound at CONTAINER, where mounts made under HOST later show. */
  shmounts?: { host: string; container: string };
}

/**
 * Applies one lxc.mount.auto value to `auto` (tokens separated by blanks).
 * As in LXC, each token replaces the earlier choice for its filesystem, so
 * `proc:mixed` then `proc:rw` leaves `proc:rw`.
 */
export function applyMountAuto(auto: MountAuto, value: string): MountAuto {
  const next: MountAuto = { ...auto };
  for (const token of value.split(/[ \t]+/).filter((t) => t !== "")) {
    const m = /^(proc|sys|cgroup|cgroup-full)(?::(mixed|ro|rw))?(:force)?$/.exec(token);
    if (m?.[1] === "proc" && !m[3] && m[2] !== "ro") {
      next.proc = m[2] === "rw" ? "rw" : "mixed";
    } else if (m?.[1] === "sys" && !m[3]) {
      next.sys = (m[2] ?? "mixed") as "mixed" | "ro" | "rw";
    } else if (m?.[1] === "cgroup" || m?.[1] === "cgroup-full") {
      next.cgroup = {
        mode: (m[2] ?? "unspecified") as "mixed" | "ro" | "rw" | "unspecified",
        full: m[1] === "cgroup-full",
        force: m[3] !== undefined,
      };
    } else if (token.startsWith("shmounts:") && token.length > "shmounts:".length) {
      const [host, container] = token.slice("shmounts:".length).split(/:(.*)/s) as [
        string,
        string?,
      ];
      next.shmounts = { host, container: container || "/dev/.lxc-mounts" };
    } else {
      throw new ValueError(
        `invalid filesystem to automount "${token}": expected proc[:mixed|:rw], sys[:mixed|:ro|:rw], ` +
          "cgroup[:mixed|:ro|:rw][:force], cgroup-full[...] or shmounts:HOST[:CONTAINER]",
      );
    }
  }
  return next;
}
