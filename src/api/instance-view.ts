/**
 * A container as LXD shows an instance: `GET /1.0/instances/NAME` (config,
 * devices, status) and its `/state` (processes, memory, CPU, network).
 */
import { join } from "node:path";
import { forwardsFile } from "../container/forward.js";
import { type LiveState, liveState, summarize } from "../container/list.js";
import type { ContainerPaths } from "../container/paths.js";
import { configFileEntries } from "../container/resources.js";
import type { ContainerState } from "../container/state.js";
import { cacheKey } from "../core/cache.js";
import type { Context } from "../core/context.js";
import { instanceConfig } from "./instance-config.js";
import { metaFile, readMeta } from "./instance-meta.js";
import { STATUS, type StatusName } from "./operations.js";
import { ProfileStore } from "./profiles.js";
import type { InstanceJson, InstancePut, InstanceState, StateNetwork } from "./types.js";
import { fileVersion } from "./yaml-files.js";

export const ARCH = process.arch === "x64" ? "x86_64" : process.arch;

/** LXD's status for an lxt state. */
export function lxdStatus(state: ContainerState): StatusName {
  switch (state) {
    case "RUNNING":
      return "Running";
    case "FROZEN":
      return "Frozen";
    case "STARTING":
      return "Starting";
    case "STOPPING":
      return "Stopping";
    default:
      return "Stopped";
  }
}

export type { InstanceJson } from "./types.js";

/** The parts of an instance a client may change (`PUT`), and what its ETag is made of. */
export function editable(i: InstanceJson): InstancePut {
  return {
    architecture: i.architecture,
    config: i.config,
    devices: i.devices,
    ephemeral: i.ephemeral,
    profiles: i.profiles,
    stateful: i.stateful,
    description: i.description,
  };
}

/**
 * An instance as LXD shows it: `config`/`devices` are its own, beyond its
 * profiles; `expanded_*` what it runs with. `store`: the daemon's profiles
 * (default: those under the state root's `.lxtd`). The answer is the
 * caller's to change.
 */
export async function instanceJson(
  ctx: Context,
  paths: ContainerPaths,
  state?: ContainerState,
  store = new ProfileStore(join(ctx.lxcpath, ".lxtd", "profiles")),
): Promise<InstanceJson> {
  const status = lxdStatus(state ?? (await summarize(ctx, paths)).state);
  return { ...structuredClone(configView(ctx, paths, store)), status, status_code: STATUS[status] };
}

/**
 * `instanceJson` for a list of many: its parts are the cached view's own,
 * shared with the next list, so nothing may change them (copy first); no
 * copy is made per instance. `store`: one request's (`forOneRequest`).
 */
export function listedInstance(
  ctx: Context,
  paths: ContainerPaths,
  state: ContainerState,
  store: ProfileStore,
): InstanceJson {
  const status = lxdStatus(state);
  return { ...configView(ctx, paths, store), status, status_code: STATUS[status] };
}

/** An instance's view but for its status, and the versions of the files it was made from. */
interface CachedView {
  files: string;
  profiles: string;
  view: Omit<InstanceJson, "status" | "status_code">;
}

/**
 * Views by container dir: a list reads each instance's files' versions (a
 * stat each) rather than reading and decoding its config, sidecar, forwards
 * and profiles every time. Any of them written (by lxtd, the CLI or a hand)
 * is a new version, so the next read makes the view anew.
 */
const VIEWS = cacheKey<CachedView>("instance-views", 4096);

/**
 * What `instanceJson` shows but the status: from the cache while its files
 * are unchanged. The cache's own object: read-only for every caller.
 */
function configView(ctx: Context, paths: ContainerPaths, store: ProfileStore): CachedView["view"] {
  const cache = ctx.caches.of(VIEWS);
  const files = [paths.config, metaFile(paths), forwardsFile(paths)].map(fileVersion).join(" ");
  const hit = cache.get(paths.dir);
  if (hit && hit.files === files && hit.profiles === store.versions(hit.view.profiles)) {
    return hit.view;
  }
  const profilesBefore = store.versions(readMeta(paths).profiles);
  const view = makeView(paths, store);
  // Kept only when nothing changed while it was made (a write in between is read next time).
  const filesAfter = [paths.config, metaFile(paths), forwardsFile(paths)]
    .map(fileVersion)
    .join(" ");
  if (filesAfter === files && store.versions(view.profiles) === profilesBefore) {
    cache.set(paths.dir, { files, profiles: profilesBefore, view });
  } else {
    cache.delete(paths.dir);
  }
  return view;
}

function makeView(paths: ContainerPaths, store: ProfileStore): CachedView["view"] {
  const entries = configFileEntries(paths);
  const { meta, expanded, local } = instanceConfig(store, paths);
  const ephemeral = entries.some((e) => e.key === "lxc.ephemeral" && e.value === "1");
  return {
    architecture: ARCH,
    config: local.config,
    devices: local.devices,
    ephemeral,
    profiles: meta.profiles,
    stateful: false,
    description: meta.description,
    created_at: meta.created_at,
    expanded_config: expanded.config,
    expanded_devices: expanded.devices,
    name: paths.name,
    last_used_at: meta.last_used_at ?? "1970-01-01T00:00:00Z",
    location: "none",
    type: "container",
    project: "default",
  };
}

function prefixLength(netmask: string | undefined, family: "inet" | "inet6"): string {
  return netmask ?? (family === "inet" ? "24" : "64");
}

export function stateJson(info: LiveState): InstanceState {
  const status = lxdStatus(info.state);
  const network: Record<string, StateNetwork> = {};
  for (const nic of info.nics) {
    const bytes = info.net.find((b) => b.name === nic.name);
    const addr = (a: string, family: "inet" | "inet6") => {
      const [address, mask] = a.split("/");
      return {
        family,
        address,
        netmask: prefixLength(mask, family),
        scope: family === "inet6" && address?.startsWith("fe80") ? "link" : "global",
      };
    };
    network[nic.name] = {
      addresses: [
        ...nic.ipv4.map((a) => addr(a, "inet")),
        ...nic.ipv6.map((a) => addr(a, "inet6")),
      ],
      counters: {
        bytes_received: bytes?.rxBytes ?? 0,
        bytes_sent: bytes?.txBytes ?? 0,
        packets_received: 0,
        packets_sent: 0,
      },
      hwaddr: nic.hwaddr ?? "",
      host_name: nic.hostName ?? "",
      mtu: 1500,
      state: "up",
      type: "broadcast",
    };
  }
  return {
    status,
    status_code: STATUS[status],
    disk: {},
    memory: {
      usage: info.memoryBytes ?? 0,
      usage_peak: info.memoryPeakBytes ?? 0,
      swap_usage: info.memorySwapBytes ?? 0,
      swap_usage_peak: 0,
    },
    network: info.state === "STOPPED" ? null : network,
    pid: info.pid ?? 0,
    processes: info.pids ?? 0,
    cpu: { usage: Math.round((info.cpuSeconds ?? 0) * 1e9) },
  };
}

/** The usage figures `stateJson` shows (a list reads no I/O or OOM files). */
export const STATE_USAGE = [
  "cpuUsageNs",
  "memoryBytes",
  "memoryPeakBytes",
  "memorySwapBytes",
  "pids",
] as const;

/** `GET /1.0/instances/NAME/state`: what `stateJson` shows, read as a list reads it. */
export async function instanceState(ctx: Context, paths: ContainerPaths): Promise<InstanceState> {
  return stateJson(await liveState(ctx, paths, { usage: STATE_USAGE }));
}
