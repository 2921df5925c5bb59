import { LxtError } from "./errors.js";

/** Longest container name; keeps `/run/lxt/<root>/<name>/control.sock` under the 108-byte sun_path. */
export const NAME_MAX = 64;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Checks a container name. Names become directory names, cgroup names and
 * hostnames' defaults, so they are restricted to a portable set.
 */
export function checkName(name: string | undefined): string {
  if (name === undefined || name === "") {
    throw new LxtError("usage", "missing container name (-n NAME)");
  }
  if (name.length > NAME_MAX) {
    throw new LxtError("name", `bad container name "${name}": longer than ${NAME_MAX} characters`);
  }
  if (!NAME_RE.test(name) || name === "." || name === "..") {
    throw new LxtError("name", `bad container name "${name}"`);
  }
  return name;
}
