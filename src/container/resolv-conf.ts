/**
 * A container's `/etc/resolv.conf` pointed at its managed network's dnsmasq
 * before the init runs, so that names resolve from the first moment, as
 * the address is there (network/reserve.ts). In LXC's world the container
 * owns that file and its own DHCP client or resolver writes it; so lxt
 * writes it only where the image leaves it to the network: absent, empty,
 * or written by lxt before (its first line is `RESOLV_MARK`). A symlink
 * (systemd-resolved's stub, resolvconf) or a file with anything else in it
 * is the image's and stays as it is. The container is stopped and its lock
 * held, so nothing inside can change the tree meanwhile; the path is
 * walked component by component with lstat and the file replaced with a
 * rename, never followed through a symlink (docs/networking.md).
 */
import {
  chownSync,
  closeSync,
  constants,
  fchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  type Stats,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { kernelRandom } from "../host/random.js";
import type { AssignedAddress } from "../network/nic.js";
import { filesDir, type RootfsRef } from "../storage/driver.js";

/** The first line of a resolv.conf lxt wrote (and may write again). */
export const RESOLV_MARK = "# lxt: the DNS server of managed network";

/** The file lxt writes for a NIC's network. Pure. */
export function renderResolvConf(a: AssignedAddress): string {
  return [
    `${RESOLV_MARK} ${a.network} (rewritten at each start while this line is first)`,
    `search ${a.domain}`,
    `nameserver ${a.gateway}`,
    "",
  ].join("\n");
}

/** What is at `etc/resolv.conf` of one layer. */
export type ResolvFound = { kind: "absent" } | { kind: "file"; text: string } | { kind: "other" };

/** Whether lxt may write resolv.conf over what it found. Pure. */
export function mayWriteResolv(found: ResolvFound): boolean {
  if (found.kind === "absent") return true;
  if (found.kind === "other") return false;
  return found.text.trim() === "" || found.text.startsWith(RESOLV_MARK);
}

function lstat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** What one layer's tree has at etc/resolv.conf, undefined when it has no `etc` at all. */
function inspect(root: string): ResolvFound | undefined {
  const etc = lstat(join(root, "etc"));
  if (!etc) return undefined;
  if (!etc.isDirectory()) return { kind: "other" };
  const st = lstat(join(root, "etc", "resolv.conf"));
  if (!st) return undefined;
  // An overlay whiteout (a 0:0 character device) deletes the lower's file.
  if (st.isCharacterDevice() && st.rdev === 0) return { kind: "absent" };
  if (!st.isFile()) return { kind: "other" };
  // Small by nature; a huge one is the image's business, not ours.
  if (st.size > 64 * 1024) return { kind: "other" };
  const fd = openSync(join(root, "etc", "resolv.conf"), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return { kind: "file", text: readFileSync(fd, "utf8") };
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the container's resolv.conf for `a` where `mayWriteResolv` allows
 * it (see the file's comment); returns whether it did. An overlay is read
 * through its upper, then its lower directory, and written in its upper.
 * The new file gets the owner of its `etc` directory (a shifted tree's
 * root, or the host-neutral 0 of an idmapped one) and mode 0644.
 */
export function writeResolvConf(storage: RootfsRef, a: AssignedAddress): boolean {
  const top = filesDir(storage);
  const spec = storage.spec;
  const layers = spec.backend === "overlay" ? [top, spec.lower] : [top];
  let found: ResolvFound = { kind: "absent" };
  let etcOwner: Stats | undefined;
  for (const layer of layers) {
    const etc = lstat(join(layer, "etc"));
    if (etc?.isDirectory()) etcOwner ??= etc;
    const f = inspect(layer);
    if (f) {
      found = f;
      break;
    }
  }
  if (!etcOwner || !mayWriteResolv(found)) return false;
  const etc = join(top, "etc");
  if (!lstat(etc)) {
    // An overlay's upper without etc/ yet: made as the lower's.
    mkdirSync(etc, { mode: etcOwner.mode & 0o7777 });
    chownSync(etc, etcOwner.uid, etcOwner.gid);
  } else if (!lstat(etc)?.isDirectory()) return false;
  const tmp = join(etc, `.resolv.conf.lxt-${kernelRandom(6).toString("hex")}`);
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    try {
      writeSync(fd, renderResolvConf(a));
      fchownSync(fd, etcOwner.uid, etcOwner.gid);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(etc, "resolv.conf"));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return true;
}
