/**
 * Reads an OCI image layout from disk and applies its layers to a rootfs:
 * every blob's digest verified, each layer unpacked by GNU tar into its own
 * empty directory (inside the rootfs, so the merge is renames on one
 * filesystem), then merged with the whiteout rules of image-spec
 * `layer.md`. The merge walks real directories only: a symlink in the lower
 * layers where a layer brings a directory is replaced, never followed, so
 * no layer can write outside the rootfs.
 */
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { LxtError, wrapError } from "../core/errors.js";
import { compressionArgs, fileCompression, runTar, TAR_KEEP } from "../storage/archive.js";
import {
  blobPath,
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
 * Applies the image's layers in order to the (empty) `rootfs`. `onLayer`
 * hears of each layer before it is unpacked.
 */
export async function applyOciLayers(
  layout: string,
  image: OciImage,
  rootfs: string,
  onLayer?: (i: number, n: number, d: OciDescriptor) => void,
): Promise<void> {
  const n = image.layers.length;
  for (const [i, d] of image.layers.entries()) {
    onLayer?.(i, n, d);
    verifyBlob(layout, d, false);
    const blob = blobPath(layout, d.digest);
    const scratch = join(rootfs, `.lxt-layer-${randomBytes(6).toString("hex")}`);
    mkdirSync(scratch, { mode: 0o700 });
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
        { what: `oci image ${layout}: layer ${i + 1}/${n} ${d.digest.slice(7, 19)}` },
      );
      mergeLayer(scratch, rootfs);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
}

/** Copies a directory's owner, mode and times onto another (after its contents are merged). */
function copyDirMeta(from: string, to: string): void {
  const st = lstatSync(from);
  lchownSync(to, st.uid, st.gid);
  chmodSync(to, st.mode & 0o7777);
  lutimesSync(to, st.atime, st.mtime);
}

/**
 * Merges layer directory `src` into rootfs directory `dst` (both real
 * directories): an opaque marker empties `dst` first, `.wh.NAME` removes
 * NAME of the lower layers, a directory over a directory merges, anything
 * else replaces what was there (a lower symlink is removed, not followed).
 * Hard links made within a layer survive (files are renamed, not copied).
 */
export function mergeLayer(src: string, dst: string): void {
  const names = readdirSync(src);
  if (names.includes(OPAQUE)) {
    for (const n of readdirSync(dst)) {
      if (!n.startsWith(".lxt-layer-")) rmSync(join(dst, n), { recursive: true, force: true });
    }
  }
  for (const n of names) {
    if (!n.startsWith(WHITEOUT) || n === OPAQUE) continue;
    const victim = n.slice(WHITEOUT.length);
    if (victim === "" || victim === "." || victim === "..") continue;
    rmSync(join(dst, victim), { recursive: true, force: true });
  }
  for (const n of names) {
    if (n.startsWith(WHITEOUT)) continue;
    const s = join(src, n);
    const d = join(dst, n);
    const ss = lstatSync(s);
    const ds = lstatSync(d, { throwIfNoEntry: false });
    if (ss.isDirectory()) {
      // Walked even when new, so its own whiteout markers never land in the rootfs.
      if (!ds?.isDirectory()) {
        if (ds) rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { mode: 0o700 });
      }
      mergeLayer(s, d);
      copyDirMeta(s, d);
      continue;
    }
    if (ds) rmSync(d, { recursive: true, force: true });
    renameSync(s, d);
  }
}
