/**
 * LXD profiles, kept by lxtd as YAML under its state directory. The
 * `default` profile always exists: a NIC on the state root's default
 * network and the root disk, as LXD's `default` profile after `lxd init`.
 * A profile is applied when an instance is created (its config and devices
 * written into the container's LXC config), and an edit is re-rendered onto
 * the instances that use it (routes/profiles.ts, docs/api.md).
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomic } from "../host/atomic.js";
import { ApiError } from "./envelope.js";
import type { Profile } from "./types.js";
import { fileVersion, readYamlFile } from "./yaml-files.js";

export type { Devices, Profile } from "./types.js";

export const DEFAULT_NETWORK = "lxtbr0";

export function defaultProfile(): Profile {
  return {
    name: "default",
    description: "Default lxt profile",
    config: {},
    devices: {
      eth0: { name: "eth0", network: DEFAULT_NETWORK, type: "nic" },
      root: { path: "/", pool: "default", type: "disk" },
    },
  };
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export class ProfileStore {
  /** Each profile file's version as first taken, when this store serves one request (`forOneRequest`). */
  private pinned?: Map<string, string>;

  constructor(private readonly dir: string) {}

  /**
   * This store for one request over many instances (a list): each profile
   * file's version is taken once and kept for the store's life, not once per
   * instance. A version kept is never newer than what is read after it, so a
   * view made meanwhile is only ever remade, never kept past a change.
   */
  forOneRequest(): ProfileStore {
    const once = new ProfileStore(this.dir);
    once.pinned = new Map();
    return once;
  }

  private file(name: string): string {
    return join(this.dir, `${name}.yaml`);
  }

  /**
   * The versions of the named profiles' files (device, inode, size, mtime;
   * `-` for one not written): what a view expanded from them was made of.
   */
  versions(names: readonly string[]): string {
    return names.map((n) => (PROFILE_NAME.test(n) ? this.version(n) : "?")).join(",");
  }

  private version(name: string): string {
    let v = this.pinned?.get(name);
    if (v === undefined) {
      v = fileVersion(this.file(name));
      this.pinned?.set(name, v);
    }
    return v;
  }

  names(): string[] {
    let list: string[] = [];
    try {
      list = readdirSync(this.dir)
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => f.slice(0, -5));
    } catch {
      // none written yet
    }
    if (!list.includes("default")) list.push("default");
    return list.sort();
  }

  find(name: string): Profile | undefined {
    if (!PROFILE_NAME.test(name)) return undefined;
    const file = this.file(name);
    let raw: unknown;
    try {
      raw = readYamlFile(file);
    } catch (err) {
      throw new ApiError(
        500,
        `profile ${name}: ${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`,
      );
    }
    if (raw === undefined) return name === "default" ? defaultProfile() : undefined;
    const p = (raw ?? {}) as Partial<Profile>;
    return {
      name,
      description: p.description ?? "",
      config: p.config ?? {},
      devices: p.devices ?? {},
    };
  }

  get(name: string): Profile {
    const p = this.find(name);
    if (!p) throw new ApiError(404, "Profile not found");
    return p;
  }

  save(p: Profile): void {
    if (!PROFILE_NAME.test(p.name)) throw new ApiError(400, `Invalid profile name "${p.name}"`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { name: _n, ...rest } = p;
    writeFileAtomic(this.file(p.name), stringify(rest), 0o600);
  }

  remove(name: string): void {
    if (name === "default") throw new ApiError(403, 'The "default" profile cannot be deleted');
    this.get(name);
    rmSync(this.file(name), { force: true });
  }
}
