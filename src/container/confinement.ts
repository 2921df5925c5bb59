import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { resolveCapabilities, type SecurityConfig } from "../config/security.js";
import { configError, errnoCode, LxtError } from "../core/errors.js";
import { DEFAULT_SECCOMP_NAME, DEFAULT_SECCOMP_PROFILE } from "../seccomp/default-profile.js";
import { parseSeccompProfile } from "../seccomp/profile.js";
import type { Confinement } from "./plan.js";

/**
 * The confinement a container's init and attached commands get: the one
 * capability set, no_new_privs, and the seccomp filter from
 * `lxc.seccomp.profile` (a path relative to the config file's directory)
 * or lxt's default profile. Reads only the profile file (`readFile` is
 * injectable for tests).
 */
export function resolveConfinement(
  sec: SecurityConfig,
  hostArch: string,
  readFile: (path: string) => string = (p) => readFileSync(p, "utf8"),
): Confinement {
  const caps = resolveCapabilities(sec);
  let text = DEFAULT_SECCOMP_PROFILE;
  let file = DEFAULT_SECCOMP_NAME;
  if (sec.seccompProfile) {
    const at = sec.seccompProfile;
    file = resolve(dirname(at.file), at.path);
    try {
      text = readFile(file);
    } catch (err) {
      throw configError(
        at.file,
        at.line,
        `lxc.seccomp.profile: ${file}: ${errnoCode(err) ?? (err as Error).message}`,
      );
    }
  }
  try {
    return { caps, noNewPrivs: sec.noNewPrivs, seccomp: parseSeccompProfile(text, file, hostArch) };
  } catch (err) {
    if (err instanceof LxtError) throw err;
    throw new LxtError("host", (err as Error).message);
  }
}
