/**
 * ZFS for the storage tests: why it cannot run here (each missing piece
 * named), and a throw-away pool on a sparse file under a temp dir, with the
 * parent dataset lxt's containers go under.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasCmd, kernelFs } from "./harness.js";

/** Why a ZFS pool cannot be made here, naming everything that is missing; undefined when it can. */
export function zfsSkip(): string | undefined {
  const missing = ["zfs", "zpool"]
    .filter((c) => !hasCmd(c))
    .map((c) => `the ${c} command (apt-get install zfsutils-linux)`);
  if (!kernelFs("zfs") && !existsSync("/sys/module/zfs")) {
    const modules = `/lib/modules/${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}`;
    missing.push(
      existsSync(modules)
        ? "the zfs kernel module (not loaded: zfs is neither in /proc/filesystems nor in /sys/module; modprobe zfs, from zfs-dkms)"
        : `the zfs kernel module (not loaded: zfs is neither in /proc/filesystems nor in /sys/module, and there is no ${modules} to load it from)`,
    );
  }
  return missing.length > 0 ? `SKIP: no ZFS here; missing ${missing.join(", ")}` : undefined;
}

/**
 * A pool named `lxttest<random>` on a sparse file in a temp dir: no cache
 * file (never imported at boot), its root not mounted; containers' datasets
 * go under `root` (`--zfsroot`), mounted where lxt says (their state root).
 * `close` destroys the pool and removes the file, also after a failed `open`.
 */
export class ZfsPool {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-zfs-"));
  readonly name = `lxttest${randomBytes(3).toString("hex")}`;
  /** The parent dataset of the containers' datasets. */
  readonly root = `${this.name}/lxt`;
  private created = false;

  /** `size`: of the sparse file (`truncate -s`; ZFS wants at least 64M). */
  open(size = "512M"): void {
    const img = join(this.dir, "pool.img");
    execFileSync("truncate", ["-s", size, img]);
    execFileSync("zpool", ["create", "-o", "cachefile=none", "-m", "none", this.name, img]);
    this.created = true;
    execFileSync("zfs", ["create", "-o", "mountpoint=none", this.root]);
  }

  /** Every dataset and snapshot of the pool, by name. */
  datasets(): string[] {
    return execFileSync("zfs", ["list", "-H", "-r", "-t", "all", "-o", "name", this.name], {
      encoding: "utf8",
    })
      .split("\n")
      .filter(Boolean);
  }

  close(): void {
    if (this.created) spawnSync("zpool", ["destroy", "-f", this.name]);
    this.created = false;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
