/** What the tests of booted Debian containers share. */
import assert from "node:assert/strict";
import { hasCmd, type RunResult, until } from "./harness.js";

/**
 * Waits for systemd in container `c` to finish booting (its bus answers and
 * it is past initializing/starting), then asserts it is running: no unit failed.
 * `lxt` runs lxt against the container's state root (a sandbox's, or one in a namespace).
 */
export async function assertBooted(
  box: { lxt: (args: string[]) => RunResult },
  c: string,
  timeoutMs = 90_000,
): Promise<void> {
  let state = "";
  const done = await until(() => {
    state = box.lxt(["attach", "-n", c, "--", "systemctl", "is-system-running"]).stdout.trim();
    return !["", "initializing", "starting"].includes(state);
  }, timeoutMs);
  assert.ok(done, `systemd still booting: "${state}"`);
  const failed = box.lxt(["attach", "-n", c, "--", "systemctl", "--failed", "--no-legend"]).stdout;
  assert.equal(state, "running", `systemd is ${state}; failed units:\n${failed}`);
}

/**
 * Builds (first run on a machine: debootstrap, minutes) or takes from the
 * verified cache the Debian minbase image into `box`'s state root. Returns
 * lxt's JSON answer, or a `SKIP:` reason (printed) when the mirror is unreachable.
 */
export function buildDebianImage(box: {
  lxt: (args: string[], opts: { timeoutMs?: number }) => RunResult;
}): { meta: { fingerprint: string; description: string; aliases: string[] } } | string {
  const r = box.lxt(
    ["image", "build", "debian", "--variant", "minbase", "-q", "--format", "json"],
    { timeoutMs: 1_500_000 },
  );
  if (r.code !== 0 && /mirror unreachable/.test(r.stderr)) {
    const skip = `SKIP: the Debian mirror is unreachable: ${r.stderr.trim()}`;
    console.log(skip);
    return skip;
  }
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** `SKIP:` when debootstrap (which builds the image the first time) is missing. */
export function debootstrapSkip(): string | undefined {
  return hasCmd("debootstrap") ? undefined : "SKIP: no debootstrap (scripts/setup.sh installs it)";
}
