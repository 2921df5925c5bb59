/**
 * A container as LXD shows an instance: `GET /1.0/instances/NAME` (config,
 * devices, status) and its `/state` (processes, memory, CPU, network).
 */
import { join } from "node:path";
import { type ContainerInfo, containerInfo, summarize } from "../container/list.js";
import type { ContainerPaths } from "../container/paths.js";
import { configFileEntries } from "../container/resources.js";
import type { ContainerState } from "../container/state.js";
import type { Context } from "../core/context.js";
import { instanceConfig } from "./instance-config.js";
import { STATUS, type StatusName } from "./operations.js";
import { ProfileStore } from "./profiles.js";
import type { InstanceJson, InstancePut, InstanceState, StateNetwork } from "./types.js";

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
 * (default: those under the state root's `.lxtd`).
 */
export async function instanceJson(
  ctx: Context,
  paths: ContainerPaths,
  state?: ContainerState,
  store = new ProfileStore(join(ctx.lxcpath, ".lxtd", "profiles")),
): Promise<InstanceJson> {
  const entries = configFileEntries(paths);
  const { meta, expanded, local } = instanceConfig(store, paths);
  const ephemeral = entries.some((e) => e.key === "lxc.ephemeral" && e.value === "1");
  const status = lxdStatus(state ?? (await summarize(ctx, paths)).state);
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
    status,
    status_code: STATUS[status],
    last_used_at: meta.last_used_at ?? "1970-01-01T00:00:00Z",
    location: "none",
    type: "container",
    project: "default",
  };
}

function prefixLength(netmask: string | undefined, family: "inet" | "inet6"): string {
  return netmask ?? (family === "inet" ? "24" : "64");
}

export function stateJson(info: ContainerInfo): InstanceState {
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

export async function instanceState(ctx: Context, paths: ContainerPaths): Promise<InstanceState> {
  return stateJson(await containerInfo(ctx, paths, undefined, true, false));
}
