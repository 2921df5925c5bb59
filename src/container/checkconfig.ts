/**
 * `lxt checkconfig`: what this host offers containers, in the spirit of
 * `lxc-checkconfig`. Every probe reads through `CheckHost`, so the report is
 * built in unit tests from a fake host; `checkConfig` asks the real one.
 */

import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import { delimiter, join } from "node:path";
import type { CgroupLayout } from "../cgroups/layout.js";
import { parseSubid, rootRanges } from "../config/idmap.js";
import { CAPABILITIES } from "../config/security.js";
import type { Context } from "../core/context.js";
import { readAppArmorHost } from "../host/apparmor.js";
import { hasCapSysResource } from "./checkpoint-tasks.js";
import { criuItems, lazyServerItem, lazyServerProblem, probeCriu } from "./criu.js";
import { hostLayout } from "./host-layout.js";

/** The door to the host for the probes. */
export interface CheckHost {
  /** File contents, or undefined when it cannot be read. */
  read(path: string): string | undefined;
  exists(path: string): boolean;
  /** Whether an executable of that name is on PATH. */
  hasBinary(name: string): boolean;
  /** `uname -r`. */
  kernelRelease: string;
  cgroupLayout(): CgroupLayout;
}

export type CheckStatus = "enabled" | "missing" | "info";

export interface CheckItem {
  section: string;
  name: string;
  status: CheckStatus;
  /** What was found, for humans. */
  detail: string;
}

const NAMESPACES = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

/** `major.minor` of a kernel release string, or undefined. */
export function kernelVersion(rel: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function atLeast(rel: string, major: number, minor: number): boolean {
  const v = kernelVersion(rel);
  return !!v && (v[0] > major || (v[0] === major && v[1] >= minor));
}

function item(section: string, name: string, ok: boolean, detail: string): CheckItem {
  return { section, name, status: ok ? "enabled" : "missing", detail };
}

function statusField(status: string | undefined, field: string): string | undefined {
  return new RegExp(`^${field}:\\s*(.*)$`, "m").exec(status ?? "")?.[1]?.trim();
}

function cgroupItems(host: CheckHost): CheckItem[] {
  let layout: CgroupLayout;
  try {
    layout = host.cgroupLayout();
  } catch (err) {
    return [item("cgroups", "layout", false, (err as Error).message)];
  }
  const out = [item("cgroups", "layout", layout.kind !== "none", layout.kind)];
  for (const h of layout.hierarchies) {
    const what = h.version === 2 ? "cgroup2" : `cgroup v1 ${h.controllers.join(",")}`;
    const ctrls = h.version === 2 ? ` controllers: ${h.controllers.join(" ") || "(none)"}` : "";
    out.push({ section: "cgroups", name: what, status: "info", detail: `${h.mountPoint}${ctrls}` });
  }
  // The device allowlist's mechanism, as planDevices chooses it.
  const v1Devices = layout.hierarchies.some(
    (h) => h.version === 1 && h.controllers.includes("devices"),
  );
  out.push(
    item(
      "cgroups",
      "devices",
      v1Devices || layout.kind === "v2",
      v1Devices
        ? "cgroup v1 devices controller (lxc.cgroup.devices.*)"
        : layout.kind === "v2"
          ? "cgroup2 eBPF device program (lxc.cgroup2.devices.*)"
          : "no device controller: containers lose CAP_MKNOD instead",
    ),
  );
  return out;
}

/** Everything checkconfig reports, in display order. */
export function checkHost(host: CheckHost): CheckItem[] {
  const out: CheckItem[] = [];
  out.push({ section: "kernel", name: "release", status: "info", detail: host.kernelRelease });
  for (const ns of NAMESPACES) {
    const ok = host.exists(`/proc/self/ns/${ns}`);
    out.push(item("namespaces", ns, ok, ok ? "available" : "not in /proc/self/ns"));
  }
  out.push(...cgroupItems(host));

  const status = host.read("/proc/self/status");
  const actions = host.read("/proc/sys/kernel/seccomp/actions_avail")?.trim();
  const seccompField = statusField(status, "Seccomp");
  out.push(
    item(
      "security",
      "seccomp",
      seccompField !== undefined,
      seccompField !== undefined
        ? `filters available; actions: ${actions ?? "unknown"}`
        : "no Seccomp: line in /proc/self/status (CONFIG_SECCOMP off)",
    ),
  );
  const lastCap = host.read("/proc/sys/kernel/cap_last_cap")?.trim();
  out.push({
    section: "security",
    name: "capabilities",
    status: "info",
    detail: `kernel knows ${lastCap !== undefined ? Number(lastCap) + 1 : "?"}, lxt ${CAPABILITIES.length}; bounding set of lxt here: ${statusField(status, "CapBnd") ?? "?"}`,
  });
  const aa = readAppArmorHost(host.read, host.exists);
  out.push(
    item(
      "security",
      "apparmor",
      aa.enabled,
      aa.enabled
        ? `${aa.why}; lxt generates and loads a profile per container${host.hasBinary("apparmor_parser") ? "" : " (apparmor_parser missing: install apparmor)"}`
        : `not enabled on this host (${aa.why}): containers run without an AppArmor profile`,
    ),
  );
  const selinux = host.exists("/sys/fs/selinux/enforce");
  out.push(item("security", "selinux", selinux, selinux ? "present" : "not enabled"));

  const maxUserns = host.read("/proc/sys/user/max_user_namespaces")?.trim();
  out.push(
    item(
      "user namespaces",
      "max_user_namespaces",
      maxUserns !== undefined && Number(maxUserns) > 0,
      maxUserns ?? "no /proc/sys/user/max_user_namespaces",
    ),
  );
  const unpriv = host.read("/proc/sys/kernel/unprivileged_userns_clone")?.trim();
  out.push({
    section: "user namespaces",
    name: "unprivileged_userns_clone",
    status: "info",
    detail: unpriv ?? "not a knob on this kernel",
  });
  const rootRange = (file: string) => {
    try {
      return rootRanges(parseSubid(host.read(file) ?? "", file)).length > 0;
    } catch {
      return false;
    }
  };
  const subuid = rootRange("/etc/subuid") && rootRange("/etc/subgid");
  out.push(
    item(
      "user namespaces",
      "subuid/subgid",
      subuid,
      subuid
        ? "root has subordinate id ranges"
        : "no valid range for root in /etc/subuid or /etc/subgid: lxt adds root:1000000:1000000000 at the first unprivileged start",
    ),
  );
  const idmapped = atLeast(host.kernelRelease, 5, 12);
  out.push(
    item(
      "user namespaces",
      "idmapped mounts",
      idmapped,
      idmapped ? "kernel >= 5.12 (per filesystem support varies)" : "needs kernel 5.12",
    ),
  );

  const fss = host.read("/proc/filesystems") ?? "";
  const hasFs = (fs: string) => new RegExp(`\\s${fs}$`, "m").test(fss);
  const nft = host.hasBinary("nft");
  out.push(item("networking", "nftables", nft, nft ? "nft on PATH" : "no nft binary"));
  out.push(
    item(
      "storage",
      "overlay",
      hasFs("overlay"),
      hasFs("overlay") ? "in /proc/filesystems" : "not loaded",
    ),
  );
  const btrfs = hasFs("btrfs");
  const btrfsTool = host.hasBinary("btrfs");
  out.push(
    item(
      "storage",
      "btrfs",
      btrfs && btrfsTool,
      `${btrfs ? "in /proc/filesystems" : "not in /proc/filesystems"}, ${btrfsTool ? "btrfs tool on PATH" : "no btrfs tool"}`,
    ),
  );
  return out;
}

/** The real host, its tools looked up on `path`. */
export function nodeCheckHost(layout: () => CgroupLayout, path: string): CheckHost {
  return {
    read: (p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    },
    exists: existsSync,
    hasBinary: (name) =>
      path.split(delimiter).some((d) => {
        try {
          accessSync(join(d, name), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
    kernelRelease: release(),
    cgroupLayout: layout,
  };
}

/** What this host offers containers, as the context's host sees it (CRIU asked through the runner). */
export async function checkConfig(ctx: Context): Promise<CheckItem[]> {
  const path = ctx.settings.hostEnv.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  const host = nodeCheckHost(() => hostLayout(ctx), path);
  const items = checkHost(host);
  const pipeMax = Number.parseInt(host.read("/proc/sys/fs/pipe-max-size") ?? "", 10);
  const lazy = lazyServerProblem(
    Number.isNaN(pipeMax) ? undefined : pipeMax,
    hasCapSysResource(host.read("/proc/self/status") ?? ""),
  );
  const criu = await probeCriu(ctx.host.run);
  return [...items, ...criuItems(criu), ...(criu.found ? [lazyServerItem(lazy)] : [])];
}
