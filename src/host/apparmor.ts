/**
 * The host side of AppArmor: whether it is enabled, and loading / unloading
 * lxt's generated profiles with apparmor_parser(8). Policy (which profile,
 * its text) is in security/apparmor.ts.
 */

import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { LxtError } from "../core/errors.js";
import type { AppArmorHost } from "../security/apparmor.js";
import { writeFileAtomic } from "./atomic.js";
import type { CommandRunner } from "./runner.js";

/** Where the kernel shows AppArmor's interface (securityfs). */
export const APPARMOR_FS = "/sys/kernel/security/apparmor";

/** Reads whether AppArmor is usable here: the module says `Y` and securityfs shows it. */
export function readAppArmorHost(
  read: (p: string) => string | undefined = (p) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return undefined;
    }
  },
  exists: (p: string) => boolean = existsSync,
): AppArmorHost & { why: string } {
  const flag = read("/sys/module/apparmor/parameters/enabled")?.trim();
  if (flag !== "Y")
    return {
      enabled: false,
      mountFeature: false,
      why:
        flag === undefined
          ? "no AppArmor module in this kernel"
          : "the AppArmor module is disabled",
    };
  if (!exists(APPARMOR_FS))
    return {
      enabled: false,
      mountFeature: false,
      why: `${APPARMOR_FS} is missing (securityfs not mounted)`,
    };
  const mountFeature = exists(`${APPARMOR_FS}/features/mount`);
  return {
    enabled: true,
    mountFeature,
    why: mountFeature
      ? "enabled, mediates mounts"
      : "enabled, but the kernel does not mediate mounts",
  };
}

/** A container's profile file and apparmor_parser's cache, in its state directory. */
export function profilePaths(containerDir: string, label: string): { file: string; cache: string } {
  const dir = join(containerDir, "apparmor");
  return { file: join(dir, label), cache: join(dir, "cache") };
}

/**
 * Writes the profile and loads it, replacing a loaded one of that name
 * (`apparmor_parser -r`), caching the compiled policy beside it.
 *
 * @throws LxtError("host") when apparmor_parser is missing, ("system") when it refuses.
 */
export async function loadAppArmorProfile(
  containerDir: string,
  label: string,
  text: string,
  runner: CommandRunner,
): Promise<void> {
  const { file, cache } = profilePaths(containerDir, label);
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, text, 0o600);
  try {
    await runner.run("apparmor_parser", ["-r", "-W", "-L", cache, file]);
  } catch (err) {
    if (err instanceof LxtError && err.code === "host")
      throw new LxtError("host", "apparmor_parser: not installed (apt-get install apparmor)", err);
    throw err;
  }
}

/**
 * Unloads this container's generated profile (`apparmor_parser -R`; only
 * `label`: a directory copied from another container names that one's
 * profile) and removes the files. Nothing to unload when it was never
 * generated or AppArmor is off.
 */
export async function unloadAppArmorProfile(
  containerDir: string,
  label: string,
  runner: CommandRunner,
  host: AppArmorHost,
): Promise<void> {
  const { file } = profilePaths(containerDir, label);
  if (host.enabled && existsSync(file)) {
    await runner.run("apparmor_parser", ["-R", file]).catch((err: unknown) => {
      // Not loaded (a reboot since the start): nothing to unload.
      if (!/doesn't exist|does not exist|not found/i.test((err as Error).message)) throw err;
    });
  }
  rmSync(join(containerDir, "apparmor"), { recursive: true, force: true });
}
