/**
 * Attaching a network block device for a rootfs, as LXC does
 * (`lxc.rootfs.path = nbd:FILE[:PARTITION]` and `rbd:POOL/IMAGE`,
 * lxc.container.conf(5)): an nbd image is connected to the first free
 * `/dev/nbdN` with `qemu-nbd -c` (free: no `/sys/block/nbdN/pid`), its
 * partition used when one is named; an rbd image (`POOL/IMAGE`, or LXC's
 * `/dev/rbd/POOL/IMAGE`) is mapped with `rbd map` unless the host already
 * maps it (`/dev/rbd/POOL/IMAGE` exists).
 *
 * Unlike a loop device, neither goes away with the mount: the release
 * (`qemu-nbd -d`, `rbd unmap`) is a `stop-hook` of the plan, which the
 * monitor runs when the container ends and `repairStale` runs after a
 * killed monitor; the start's reverter runs it when the start fails.
 */

import { LxtError } from "../core/errors.js";
import type { CommandRunner } from "../host/runner.js";
import type { BlockSpec } from "../storage/rootfs-spec.js";
import type { BlockHost } from "./rootfs-block.js";

/** An attached device: where its filesystem is, and the command that releases it (none when lxt did not attach it). */
export interface AttachedDevice {
  device: string;
  detach?: readonly string[];
  /** A path that exists while the device lxt attached is attached (the monitor may have released it first). */
  held?: string;
}

/** What attaching reads and runs on the host; tests pass fakes. */
export interface AttachHost extends BlockHost {
  run: CommandRunner;
  /** Resolves after `ms` (waiting for a partition's node to appear). */
  delay(ms: number): Promise<void>;
}

const SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/** How long a partition's node may take to appear after the connect (LXC waits as long). */
const PARTITION_WAIT_MS = 5000;
const PARTITION_POLL_MS = 50;
/** `/dev/nbdN` taken by another attach between the check and the connect: the next one is tried. */
const NBD_TRIES = 8;

/** The absolute path of a host tool, or undefined when the host lacks it. */
function tool(host: BlockHost, cmd: string): string | undefined {
  return SBIN.map((d) => `${d}/${cmd}`).find((p) => host.exists(p));
}

/** `nbd:FILE[:PARTITION]`'s parts: a trailing `:N` names a partition. */
export function splitNbdSource(source: string): { file: string; partition?: number } {
  const m = /^(.*):([1-9]\d*)$/.exec(source);
  return m?.[1] ? { file: m[1], partition: Number(m[2]) } : { file: source };
}

/**
 * What the host lacks for a backend, after trying to load its module
 * (`modprobe`, best effort): the module, the tool.
 */
export async function missingFor(backend: "nbd" | "rbd", host: AttachHost): Promise<string[]> {
  const sys = backend === "nbd" ? "/sys/module/nbd" : "/sys/bus/rbd";
  if (!host.exists(sys))
    await host.run.run(tool(host, "modprobe") ?? "modprobe", [backend]).catch(() => {});
  const missing: string[] = [];
  if (!host.exists(sys))
    missing.push(`the ${backend} kernel module (no ${sys}, and modprobe ${backend} failed)`);
  if (backend === "nbd" && !tool(host, "qemu-nbd"))
    missing.push("qemu-nbd (the qemu-utils package)");
  if (backend === "rbd" && !tool(host, "rbd"))
    missing.push("the rbd command (the ceph-common package)");
  return missing;
}

/**
 * Attaches an nbd or rbd rootfs and returns its device, or refuses naming
 * `key` (`CONFIG: lxc.rootfs.path = ...`) and what is wrong: what the host
 * lacks, a missing image, no free nbd device, an unreachable cluster.
 */
export async function attachDevice(
  spec: BlockSpec,
  key: string,
  host: AttachHost,
): Promise<AttachedDevice> {
  if (spec.backend !== "nbd" && spec.backend !== "rbd")
    throw new LxtError("internal", `${key}: ${spec.backend} is not attached by a command`);
  const missing = await missingFor(spec.backend, host);
  if (missing.length > 0)
    throw new LxtError("host", `${key}: this host lacks ${missing.join(", and ")}`);
  return spec.backend === "nbd"
    ? attachNbd(spec.source, key, host)
    : mapRbd(spec.source, key, host);
}

async function attachNbd(source: string, key: string, host: AttachHost): Promise<AttachedDevice> {
  const qemuNbd = tool(host, "qemu-nbd") as string;
  const { file, partition } = splitNbdSource(source);
  if (host.kind(file) !== "file")
    throw new LxtError("config", `${key}: ${file} is not an image file`);
  const format = imageFormat(host.head(file, 4));
  let last: unknown;
  for (let i = 0, tries = 0; tries < NBD_TRIES; i++) {
    const nbd = `/dev/nbd${i}`;
    if (!host.exists(nbd)) break;
    if (host.exists(`/sys/block/nbd${i}/pid`)) continue;
    tries++;
    try {
      await host.run.run(qemuNbd, ["-c", nbd, "-f", format, file]);
    } catch (err) {
      last = err;
      continue;
    }
    const detach = [qemuNbd, "-d", nbd];
    const held = `/sys/block/nbd${i}/pid`;
    if (partition === undefined) return { device: nbd, detach, held };
    const device = `${nbd}p${partition}`;
    if (await appears(device, host)) return { device, detach, held };
    await host.run.run(qemuNbd, ["-d", nbd]).catch(() => {});
    throw new LxtError("config", `${key}: ${file} has no partition ${partition} (no ${device})`);
  }
  throw new LxtError(
    "host",
    `${key}: no free nbd device (every /dev/nbdN is in use${last ? `; ${(last as Error).message}` : ""}): load nbd with more devices (modprobe nbd nbds_max=N)`,
  );
}

/**
 * The format qemu-nbd is told: qcow2 when the file starts with qcow2's
 * magic, else raw. Never qemu's own probing (LXC leaves it on): it knows
 * formats whose header names a host file to read (a backing file), and a
 * raw image's first sector is the container's to write.
 */
export function imageFormat(head: Buffer): "qcow2" | "raw" {
  return head.length >= 4 && head.readUInt32BE(0) === 0x514649fb ? "qcow2" : "raw";
}

/** Whether `path` exists within PARTITION_WAIT_MS (the kernel reads the partition table after the connect). */
async function appears(path: string, host: AttachHost): Promise<boolean> {
  for (let waited = 0; ; waited += PARTITION_POLL_MS) {
    if (host.exists(path)) return true;
    if (waited >= PARTITION_WAIT_MS) return false;
    await host.delay(PARTITION_POLL_MS);
  }
}

async function mapRbd(source: string, key: string, host: AttachHost): Promise<AttachedDevice> {
  const rbd = tool(host, "rbd") as string;
  // LXC's `lxc-create -B rbd` writes rbd:/dev/rbd/POOL/IMAGE, the udev link of the mapped image.
  const name = source.startsWith("/dev/rbd/") ? source.slice("/dev/rbd/".length) : source;
  // Mapped by the host already (LXC's rbd: requires that): used, and left mapped.
  const mapped = `/dev/rbd/${name}`;
  if (host.exists(mapped)) return { device: mapped };
  let out: string;
  try {
    out = await host.run.run(rbd, ["map", name]);
  } catch (err) {
    throw new LxtError(
      "host",
      `${key}: rbd map ${name} failed (is the Ceph cluster reachable, /etc/ceph/ceph.conf and a keyring in place?): ${(err as Error).message}`,
      err,
    );
  }
  const device = out.trim().split("\n").pop() ?? "";
  if (!device.startsWith("/dev/"))
    throw new LxtError("system", `${key}: rbd map ${name} printed no device: "${out.trim()}"`);
  return { device, detach: [rbd, "unmap", device], held: device };
}
