/** Facts about the machine that limits are translated with. */

import { readFileSync, statSync } from "node:fs";
import { totalmem } from "node:os";

/** What limit translation needs from the host. */
export interface LimitHost {
  /** Total RAM in bytes, for `N%` memory limits. */
  memTotal: number;
  /** `MAJ:MIN` of a block device path such as `/dev/sda`; throws if it is not one. */
  deviceNumber(path: string): string;
}

/** `LimitHost` of this machine. */
export const nodeLimitHost: LimitHost = {
  memTotal: totalmem(),
  deviceNumber(path) {
    const st = statSync(path);
    if (!st.isBlockDevice()) throw new Error("not a block device");
    // glibc's major()/minor() on a 64-bit dev_t.
    const dev = BigInt(st.rdev);
    const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
    const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  },
};

/** The kernel's name of a block device (`sda`, `zram0`) from its `MAJ:MIN`; the number itself when unknown. */
export function blockDeviceName(majMin: string): string {
  try {
    const uevent = readFileSync(`/sys/dev/block/${majMin}/uevent`, "utf8");
    return /^DEVNAME=(.+)$/m.exec(uevent)?.[1] ?? majMin;
  } catch {
    return majMin;
  }
}
