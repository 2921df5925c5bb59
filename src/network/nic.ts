/**
 * A container's NICs, by `lxc.net.N.type`: resolution from the config
 * (`nic-resolve.ts`, pure), the monitor's records (`nic-hooks.ts`, pure),
 * and the host side (`nic-host.ts`). `none` shares the starter's network
 * namespace (no `net` namespace in the plan); `empty` has loopback only.
 */
import { existsSync } from "node:fs";
import { LxtError } from "../core/errors.js";
import type { NicTools } from "./nic-hooks.js";

export { type NicHookContext, type NicRecords, type NicTools, nicRecords } from "./nic-hooks.js";
export {
  type AssignedAddress,
  netFailure,
  type PreparedNics,
  prepareNics,
  registerNics,
  removeHostEnds,
  runStopHooks,
  withAssigned,
} from "./nic-host.js";
export {
  ipv6Cidr,
  type MacvlanNic,
  type NicPlan,
  type NicSummary,
  type PhysNic,
  resolveNics,
  sharesHostNet,
  summarizeNics,
  type VethNic,
} from "./nic-resolve.js";

/** Absolute path of a host tool (the monitor execs hooks without a PATH search). */
export function hostTool(name: string): string {
  for (const d of ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (existsSync(`${d}/${name}`)) return `${d}/${name}`;
  }
  throw new LxtError("host", `${name}: not installed (needed for networking)`);
}

/** The host tools NIC hooks run. */
export function nicTools(): NicTools {
  return {
    ip: hostTool("ip"),
    nsenter: hostTool("nsenter"),
    umount: hostTool("umount"),
    sysctl: hostTool("sysctl"),
    env: hostTool("env"),
    sh: hostTool("sh"),
  };
}
