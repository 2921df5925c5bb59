/** The host tools managed networks run, checked before anything is made. */
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { LxtError } from "../core/errors.js";

/** Host tools a managed network runs, and the Debian package of each. */
const NETWORK_TOOLS: ReadonlyArray<readonly [tool: string, pkg: string]> = [
  ["ip", "iproute2"],
  ["nft", "nftables"],
  ["dnsmasq", "dnsmasq-base"],
];

/**
 * Refuses, before anything is made, when a tool a managed network needs is
 * not on PATH (as execFile would search it), naming the Debian package.
 */
export function requireNetworkTools(what: string, path: string): void {
  const dirs = path.split(":").filter(Boolean);
  const missing = NETWORK_TOOLS.filter(([tool]) => {
    return !dirs.some((d) => {
      try {
        accessSync(join(d, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  });
  if (missing.length > 0) {
    throw new LxtError(
      "host",
      `${what}: ${missing.map(([t]) => t).join(" and ")} not found on PATH (install the Debian package${missing.length > 1 ? "s" : ""} ${missing.map(([, p]) => p).join(" ")}; scripts/setup.sh does)`,
    );
  }
}
