/**
 * What LXD keeps of a managed network that lxt's definition has no place
 * for: its description, and its forwards' descriptions and config (the
 * forwards' ports are the containers' own forwards). One YAML file per
 * network under the daemon's directory, `.lxtd/networks/NAME.yaml`.
 */
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { writeFileAtomic } from "../host/atomic.js";

export interface ForwardMeta {
  description: string;
  config: Record<string, string>;
  /** Port descriptions by `PROTO/LISTEN_PORT`. */
  ports?: Record<string, string>;
}

export interface NetworkMeta {
  description: string;
  /** By listen address. A forward with no ports lives only here. */
  forwards: Record<string, ForwardMeta>;
}

function metaFile(stateDir: string, name: string): string {
  return join(stateDir, "networks", `${name}.yaml`);
}

export function readNetworkMeta(stateDir: string, name: string): NetworkMeta {
  let raw: Partial<NetworkMeta> = {};
  try {
    raw = (parse(readFileSync(metaFile(stateDir, name), "utf8")) ?? {}) as Partial<NetworkMeta>;
  } catch {
    // made by the CLI, or none kept: LXD's defaults
  }
  return { description: raw.description ?? "", forwards: raw.forwards ?? {} };
}

export function writeNetworkMeta(stateDir: string, name: string, meta: NetworkMeta): void {
  mkdirSync(join(stateDir, "networks"), { recursive: true, mode: 0o700 });
  writeFileAtomic(metaFile(stateDir, name), stringify(meta), 0o600);
}

export function removeNetworkMeta(stateDir: string, name: string): void {
  rmSync(metaFile(stateDir, name), { force: true });
}
