/**
 * Reads an OCI image layout from disk and applies its layers to a rootfs:
 * every blob's digest verified, each layer unpacked by GNU tar into its own
 * empty directory (inside the rootfs, so the merge is renames on one
 * filesystem), then merged with the whiteout rules of image-spec
 * `layer.md`. The merge walks real directories only: a symlink in the lower
 * layers where a layer brings a directory is replaced, never followed, so
 * no layer can write outside the rootfs.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { chmod, lchown, lstat, lutimes, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import { compressionArgs, fileCompression, runTar, TAR_KEEP } from "../storage/archive.js";
import {
  blobPath,
  checkBlobDigest,
  checkBlobSize,
  checkLayerType,
  chooseManifest,
  isIndex,
  type OciDescriptor,
  type OciRunConfig,
  ociArchitecture,
  parseImageConfig,
  parseIndex,
  parseManifest,
  verifyBlob,
} from "./oci.js";

export interface OciImage {
  /** sha256 hex of the chosen manifest: the image's fingerprint. */
  manifestDigest: string;
  layers: OciDescriptor[];
  run: OciRunConfig;
}

const OPAQUE = ".wh..wh..opq";
const WHITEOUT = ".wh.";

/** Reads and verifies the index, the manifest for this architecture and its config. */
export function readOciImage(layout: string, arch: string = ociArchitecture()): OciImage {
  let text: string;
  try {
    text = readFileSync(join(layout, "index.json"), "utf8");
  } catch (err) {
    throw wrapError(`oci image ${layout}: index.json`, err);
  }
  let chosen = chooseManifest(parseIndex(text, layout), arch, layout);
  for (let depth = 0; isIndex(chosen); depth++) {
    if (depth > 4) throw new LxtError("usage", `oci image ${layout}: indexes nested too deep`);
    const inner = verifyBlob(layout, chosen, true)?.toString("utf8") ?? "";
    chosen = chooseManifest(parseIndex(inner, layout), arch, layout);
  }
  const manifest = parseManifest(verifyBlob(layout, chosen, true)?.toString("utf8") ?? "", layout);
  const run = parseImageConfig(
    verifyBlob(layout, manifest.config, true)?.toString("utf8") ?? "",
    layout,
  );
  if (run.architecture && run.architecture !== arch) {
    throw new LxtError(
      "usage",
      `oci image ${layout}: its config is for ${run.architecture}, this host is ${arch}`,
    );
  }
  for (const l of manifest.layers) checkLayerType(l, layout);
  return { manifestDigest: chosen.digest.slice(7), layers: manifest.layers, run };
}

/**
 * Checks a layer blob's size and sha256 against its descriptor, reading it
 * as a stream (layers are large: the event loop stays free).
 */
async function verifyLayer(layout: string, d: OciDescriptor): Promise<void> {
  const file = blobPath(layout, d.digest);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LxtError("not-found", `oci image ${layout}: blob ${d.digest}: ${code}`, err);
  }
  checkBlobSize(layout, d, size);
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  checkBlobDigest(layout, d, h.digest("hex"));
}

/**
 * Applies the image's layers in order to the (empty) `rootfs`. `onLayer`
 * hears of each layer before it is unpacked; tar runs in `env`.
 */
export async function applyOciLayers(
  env: Env,
  layout: string,
  image: OciImage,
  rootfs: string,
  onLayer?: (i: number, n: number, d: OciDescriptor) => void,
): Promise<void> {
  const n = image.layers.length;
  for (const [i, d] of image.layers.entries()) {
    onLayer?.(i, n, d);
    await verifyLayer(layout, d);
    const blob = blobPath(layout, d.digest);
    const scratch = join(rootfs, `.lxt-layer-${randomBytes(6).toString("hex")}`);
    await mkdir(scratch, { mode: 0o700 });
    try {
      await runTar(
        "tar",
        [
          "-x",
          "-f",
          blob,
          ...TAR_KEEP,
          "--same-owner",
          ...compressionArgs(fileCompression(blob), "read"),
          "-C",
          scratch,
        ],
        { what: `oci image ${layout}: layer ${i + 1}/${n} ${d.digest.slice(7, 19)}`, env },
      );
      await mergeLayer(scratch, rootfs);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/** Copies a directory's owner, mode and times onto another (after its contents are merged). */
async function copyDirMeta(from: string, to: string): Promise<void> {
  const st = await lstat(from);
  await lchown(to, st.uid, st.gid);
  await chmod(to, st.mode & 0o7777);
  await lutimes(to, st.atime, st.mtime);
}

/** lstat, or undefined when nothing is there. */
async function lstatMaybe(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Merges layer directory `src` into rootfs directory `dst` (both real
 * directories): an opaque marker empties `dst` first, `.wh.NAME` removes
 * NAME of the lower layers, a directory over a directory merges, anything
 * else replaces what was there (a lower symlink is removed, not followed).
 * Hard links made within a layer survive (files are renamed, not copied).
 */
export async function mergeLayer(src: string, dst: string): Promise<void> {
  const names = await readdir(src);
  if (names.includes(OPAQUE)) {
    for (const n of await readdir(dst)) {
      if (!n.startsWith(".lxt-layer-")) await rm(join(dst, n), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (!n.startsWith(WHITEOUT) || n === OPAQUE) continue;
    const victim = n.slice(WHITEOUT.length);
    if (victim === "" || victim === "." || victim === "..") continue;
    await rm(join(dst, victim), { recursive: true, force: true });
  }
  for (const n of names) {
    if (n.startsWith(WHITEOUT)) continue;
    const s = join(src, n);
    const d = join(dst, n);
    const ss = await lstat(s);
    const ds = await lstatMaybe(d);
    if (ss.isDirectory()) {
      // Walked even when new, so its own whiteout markers never land in the rootfs.
      if (!ds?.isDirectory()) {
        if (ds) await rm(d, { recursive: true, force: true });
        await mkdir(d, { mode: 0o700 });
      }
      await mergeLayer(s, d);
      await copyDirMeta(s, d);
      continue;
    }
    if (ds) await rm(d, { recursive: true, force: true });
    await rename(s, d);
  }
}
