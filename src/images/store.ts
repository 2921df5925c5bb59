/**
 * The local image store: `<state root>/images/<fingerprint>/` holding
 * `metadata.json` and `rootfs/` (a btrfs subvolume when the store is on
 * btrfs, else a directory), unpacked once. Containers are made from it by
 * their storage driver's clone: a btrfs snapshot, an overlay over it, or a
 * copy. As in LXD, deleting an image leaves the containers made from it
 * alone; only overlay containers based on it keep it (they would lose their
 * lower directory).
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
} from "node:fs";
import { copyFile, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { cleanStaleStaging, makeStaging } from "../container/staging.js";
import { overlayDependents } from "../container/storage.js";
import type { Context, Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import {
  compressionArgs,
  fileCompression,
  readArchiveMember,
  runTar,
  TAR_KEEP,
} from "../storage/archive.js";
import { type RootfsRef, rootDir, storageDriver, usableDriver } from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { busyboxConfigLines, createBusyboxRootfs } from "../templates/busybox.js";
import {
  checkAlias,
  DEFAULT_IMAGE_CONFIG,
  hostArchitecture,
  type ImageMeta,
  parseImageMeta,
  parseLxdMetadata,
  resolveImage,
} from "./metadata.js";
import { isOciLayout, ociConfigLines } from "./oci.js";
import { applyOciLayers, type OciImage, readOciImage } from "./oci-apply.js";

export function imagesRoot(lxcpath: string): string {
  return join(lxcpath, "images");
}

/** The stored rootfs of an image, as a storage reference. */
export function imageRootfs(lxcpath: string, meta: ImageMeta): RootfsRef {
  const dir = join(imagesRoot(lxcpath), meta.fingerprint);
  const path = join(dir, "rootfs");
  return {
    spec: meta.backend === "btrfs" ? { backend: "btrfs", path } : { backend: "dir", path },
    dir,
  };
}

/** Every image in the store, oldest first. */
export function listImages(lxcpath: string): ImageMeta[] {
  const root = imagesRoot(lxcpath);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: ImageMeta[] = [];
  for (const n of names) {
    const file = join(root, n, "metadata.json");
    if (!/^[0-9a-f]{64}$/.test(n) || !existsSync(file)) continue;
    out.push(parseImageMeta(readFileSync(file, "utf8"), file));
  }
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

/** The image an alias or fingerprint prefix names. */
export function findImage(lxcpath: string, ref: string): ImageMeta {
  return resolveImage(listImages(lxcpath), ref);
}

/** Writes an image's `metadata.json` (atomically). */
export function writeMeta(
  lxcpath: string,
  meta: ImageMeta,
  dir = join(imagesRoot(lxcpath), meta.fingerprint),
) {
  writeFileAtomic(join(dir, "metadata.json"), `${JSON.stringify(meta, null, 2)}\n`);
}

/** sha256 of the bytes of `files`, one after the other (LXD: metadata tarball then rootfs). */
async function hashFiles(files: string[]): Promise<string> {
  const h = createHash("sha256");
  for (const f of files) {
    for await (const chunk of createReadStream(f)) h.update(chunk as Buffer);
  }
  return h.digest("hex");
}

/** sha256 of a canonical tar of `tree` (sorted names, numeric owners, mtimes zeroed). */
function hashTree(env: Env, tree: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash("sha256");
    const child = spawn(
      "tar",
      ["-c", "-f", "-", "--sort=name", "--mtime=@0", ...TAR_KEEP, "-C", tree, "."],
      { stdio: ["ignore", "pipe", "ignore"], env: { ...env, LC_ALL: "C" } },
    );
    child.stdout.on("data", (d: Buffer) => h.update(d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolvePromise(h.digest("hex"))
        : reject(new LxtError("system", `fingerprint ${tree}: tar exited ${code}`)),
    );
  });
}

/** How a single tarball is laid out: a bare rootfs, or LXD's unified image. */
async function tarballLayout(
  env: Env,
  file: string,
): Promise<{ unified: false; oci?: boolean } | { unified: true; prefix: string }> {
  let meta: string | undefined;
  let rootfs: string | undefined;
  let oci = false;
  await runTar("tar", ["-t", "-f", file, ...compressionArgs(fileCompression(file), "read")], {
    what: `read ${file}`,
    env,
    onLine: (l) => {
      const m = /^(\.\/)?(metadata\.yaml|rootfs\/|oci-layout$)/.exec(l);
      if (m?.[2] === "oci-layout") {
        oci = true;
        return false;
      }
      if (m?.[2] === "metadata.yaml") meta = m[1] ?? "";
      else if (m?.[2] === "rootfs/") rootfs = m[1] ?? "";
      return meta !== undefined && rootfs !== undefined ? false : undefined;
    },
  });
  if (meta !== undefined && rootfs !== undefined) return { unified: true, prefix: rootfs };
  return { unified: false, oci };
}

async function unpack(env: Env, file: string, into: string, extra: string[] = []): Promise<void> {
  try {
    await runTar(
      "tar",
      [
        "-x",
        "-f",
        file,
        ...TAR_KEEP,
        "--same-owner",
        ...compressionArgs(fileCompression(file), "read"),
        "-C",
        into,
        ...extra,
      ],
      { what: "unpack", env },
    );
  } catch (err) {
    throw wrapError(`${file}: damaged, truncated or not a tarball`, err);
  }
}

export interface ImageImportOptions {
  aliases?: string[];
  /** Build this built-in image (`busybox`) instead of reading files. */
  builtin?: "busybox";
  progress?: Progress;
  /** What a builder (debootstrap) says of the image, over what the files say. */
  describe?: Partial<
    Pick<ImageMeta, "description" | "source" | "config" | "properties" | "public">
  >;
  /**
   * Keep the imported files in the image (moved there: the caller's
   * temporary uploads), under these names, so the image can be exported
   * byte for byte (see `imageFiles`).
   */
  keep?: { meta: string; rootfs?: string };
  /** The fingerprint the files must have (an uploader's claim); a mismatch imports nothing. */
  expect?: string;
}

/**
 * Imports an image: a rootfs tarball (`.tar`, `.tar.xz`, `.tar.zst`,
 * `.tar.gz`), an LXD image (unified tarball with `metadata.yaml` and
 * `rootfs/`, or split: metadata tarball then rootfs tarball) or a built-in
 * one. Unpacked into a staging directory under the store, renamed into
 * place; an image already stored only gains the aliases.
 */
export async function importImage(
  ctx: Context,
  files: string[],
  opts: ImageImportOptions = {},
): Promise<{ meta: ImageMeta; existed: boolean }> {
  const { lxcpath } = ctx;
  const env = ctx.settings.hostEnv;
  const run = ctx.host.run;
  const aliases = (opts.aliases ?? []).map(checkAlias);
  const srcs = files.map((f) => resolve(f));
  if (!opts.builtin && (srcs.length < 1 || srcs.length > 2)) {
    throw new LxtError(
      "usage",
      "image import: give a tarball, or LXD's metadata and rootfs tarballs",
    );
  }
  const dirInput =
    srcs.length === 1 && statSync(srcs[0] ?? "", { throwIfNoEntry: false })?.isDirectory();
  if (dirInput && !isOciLayout(srcs[0] ?? "")) {
    throw new LxtError(
      "usage",
      `image import ${srcs[0]}: a directory must be an OCI image layout (no oci-layout file in it)`,
    );
  }
  if (!dirInput) for (const f of srcs) fileCompression(f); // not-found before anything is made
  const root = imagesRoot(lxcpath);
  const driver = await usableDriver("best", lxcpath, run);
  await cleanStaleStaging(ctx, root);
  const stage = await makeStaging(ctx, root, "image");
  const staging = stage.dir;
  const ref: RootfsRef = { spec: driver.newSpec(staging), dir: staging };
  const revert = new Reverter();
  revert.add("staging", () => stage.release());
  revert.add("staged rootfs", () => driver.destroy(ref));
  try {
    let oci: { layout: string; image: OciImage } | undefined;
    const meta: ImageMeta = {
      fingerprint: "",
      aliases: [],
      created: new Date().toISOString(),
      architecture: hostArchitecture(),
      description: "",
      source: srcs.join(" "),
      backend: driver.name,
      config: DEFAULT_IMAGE_CONFIG,
    };
    if (opts.builtin === "busybox") {
      await driver.create(ref);
      await createBusyboxRootfs(rootDir(ref), { name: "busybox" });
      meta.fingerprint = await hashTree(env, rootDir(ref));
      meta.description = "busybox (from the host)";
      meta.source = "busybox";
      meta.config = busyboxConfigLines("busybox").filter(([k]) => k !== "lxc.uts.name");
    } else if (dirInput) {
      oci = { layout: srcs[0] ?? "", image: readOciImage(srcs[0] ?? "") };
      meta.fingerprint = oci.image.manifestDigest;
    } else {
      meta.fingerprint = await hashFiles(srcs);
    }
    if (opts.expect !== undefined && opts.expect !== meta.fingerprint) {
      throw new LxtError(
        "usage",
        `fingerprints don't match, got ${meta.fingerprint} expected ${opts.expect}`,
      );
    }
    const existing = listImages(lxcpath).find((i) => i.fingerprint === meta.fingerprint);
    if (existing) {
      await revert.revert();
      return { meta: addAliases(lxcpath, existing, aliases), existed: true };
    }
    if (!opts.builtin) await driver.create(ref);
    const [first = "", second] = srcs;
    if (second !== undefined) {
      Object.assign(meta, lxdMeta(await readArchiveMember(env, first, "metadata.yaml"), first));
      meta.source = `lxd:${basename(second)}`;
      await unpack(env, second, rootDir(ref));
    } else if (oci) {
      await applyOci(env, oci.layout, oci.image, rootDir(ref), meta, opts.progress);
    } else if (!opts.builtin) {
      const layout = await tarballLayout(env, first);
      if (!layout.unified && layout.oci) {
        const dir = join(staging, "oci");
        mkdirSync(dir);
        opts.progress?.(`unpacking ${basename(first)}`);
        await unpack(env, first, dir);
        const image = readOciImage(dir);
        meta.fingerprint = image.manifestDigest;
        const again = listImages(lxcpath).find((i) => i.fingerprint === meta.fingerprint);
        if (again) {
          await revert.revert();
          return { meta: addAliases(lxcpath, again, aliases), existed: true };
        }
        await applyOci(env, dir, image, rootDir(ref), meta, opts.progress);
        await rm(dir, { recursive: true, force: true });
      } else if (layout.unified) {
        Object.assign(
          meta,
          lxdMeta(await readArchiveMember(env, first, `${layout.prefix}metadata.yaml`), first),
        );
        meta.source = `lxd:${basename(first)}`;
        const strip = layout.prefix ? 2 : 1;
        await unpack(env, first, rootDir(ref), [
          `--strip-components=${strip}`,
          `${layout.prefix}rootfs`,
        ]);
      } else {
        opts.progress?.(`unpacking ${basename(first)}`);
        await unpack(env, first, rootDir(ref));
      }
    }
    Object.assign(meta, opts.describe ?? {});
    if (opts.keep && !dirInput) await keepFiles(srcs, staging, opts.keep, meta);
    for (const a of aliases) claimAlias(lxcpath, a);
    meta.aliases = aliases;
    writeMeta(lxcpath, meta, staging);
    const final = join(root, meta.fingerprint);
    renameSync(staging, final);
    revert.success();
    await stage.release();
    return { meta, existed: false };
  } catch (err) {
    await revert.revert();
    throw explainNoSpace(wrapError("image import", err), `image import ${srcs.join(" ")}`, root);
  }
}

/** Applies an OCI image's layers and records what its containers take from its config. */
async function applyOci(
  env: Env,
  layout: string,
  image: OciImage,
  rootfs: string,
  meta: ImageMeta,
  progress?: Progress,
): Promise<void> {
  await applyOciLayers(env, layout, image, rootfs, (i, n) =>
    progress?.(`applying layer ${i + 1}/${n}`, i / n),
  );
  const read = (f: string): string | undefined => {
    // Not through symlinks: a link in the image may point anywhere on the host.
    const etc = join(rootfs, "etc");
    if (!lstatSync(etc, { throwIfNoEntry: false })?.isDirectory()) return undefined;
    const p = join(etc, f);
    return lstatSync(p, { throwIfNoEntry: false })?.isFile() ? readFileSync(p, "utf8") : undefined;
  };
  meta.source = `oci:${layout}`;
  meta.description = image.run.entrypoint.concat(image.run.cmd).join(" ") || "OCI image";
  meta.config = [
    ...DEFAULT_IMAGE_CONFIG,
    ...ociConfigLines(image.run, { passwd: read("passwd"), group: read("group") }, layout),
  ];
}

/** Moves the imported files into `<image>/files/` (copies when they are on another filesystem). */
async function keepFiles(
  srcs: string[],
  staging: string,
  names: { meta: string; rootfs?: string },
  meta: ImageMeta,
): Promise<void> {
  const dir = join(staging, "files");
  mkdirSync(dir);
  const kept = srcs.length === 2 ? [names.meta, names.rootfs ?? "rootfs"] : [names.meta];
  let size = 0;
  for (const [i, name] of kept.entries()) {
    const src = srcs[i] ?? "";
    const to = join(dir, checkFileName(name));
    size += statSync(src).size;
    try {
      renameSync(src, to);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
      await copyFile(src, to);
    }
  }
  meta.files =
    srcs.length === 2 ? { meta: kept[0] ?? "", rootfs: kept[1] ?? "" } : { meta: names.meta };
  meta.size = size;
}

/** A kept file's name: one path component, as an uploader's file name must be. */
function checkFileName(name: string): string {
  if (!/^[^/\0]{1,255}$/.test(name) || name === "." || name === "..") {
    throw new LxtError("usage", `image import: bad file name "${name}"`);
  }
  return name;
}

/**
 * The files an image was imported from, when they were kept (`keep`): the
 * unified tarball, or the metadata and rootfs tarballs, with their names.
 */
export function imageFiles(
  lxcpath: string,
  meta: ImageMeta,
): { name: string; path: string }[] | undefined {
  if (!meta.files) return undefined;
  const dir = join(imagesRoot(lxcpath), meta.fingerprint, "files");
  const names = [meta.files.meta, ...(meta.files.rootfs !== undefined ? [meta.files.rootfs] : [])];
  const out = names.map((name) => ({ name, path: join(dir, name) }));
  return out.every((f) => existsSync(f.path)) ? out : undefined;
}

function lxdMeta(text: string, where: string): Partial<ImageMeta> {
  const m = parseLxdMetadata(text, where);
  return {
    architecture: m.architecture,
    description: m.description,
    ...(Object.keys(m.properties).length > 0 ? { properties: m.properties } : {}),
    ...(m.created ? { created: m.created } : {}),
  };
}

/** Moves alias `a` away from whichever image holds it (an alias names one image, as in LXD). */
function claimAlias(lxcpath: string, a: string): void {
  for (const other of listImages(lxcpath)) {
    if (!other.aliases.includes(a)) continue;
    writeMeta(lxcpath, { ...other, aliases: other.aliases.filter((x) => x !== a) });
  }
}

function addAliases(lxcpath: string, meta: ImageMeta, aliases: string[]): ImageMeta {
  const fresh = aliases.filter((a) => !meta.aliases.includes(a));
  if (fresh.length === 0) return meta;
  for (const a of fresh) claimAlias(lxcpath, a);
  const cur = listImages(lxcpath).find((i) => i.fingerprint === meta.fingerprint) ?? meta;
  const out = { ...cur, aliases: [...cur.aliases, ...fresh] };
  writeMeta(lxcpath, out);
  return out;
}

/**
 * Deletes an image. Containers copied or snapshotted from it are
 * independent (as in LXD); overlay containers based on it are not, so they
 * refuse the delete.
 */
export async function deleteImage(ctx: Context, ref: string): Promise<ImageMeta> {
  const { lxcpath } = ctx;
  const meta = findImage(lxcpath, ref);
  const img = imageRootfs(lxcpath, meta);
  const users = overlayDependents(ctx, lxcpath, img.dir);
  if (users.length > 0) {
    throw new LxtError(
      "state",
      `image delete ${ref}: the overlay rootfs of ${users.join(", ")} is based on it (destroy those first)`,
    );
  }
  // Moved aside first: a half-deleted image is never seen as an image.
  const aside = await makeStaging(ctx, imagesRoot(lxcpath), "image");
  const moved = join(aside.dir, "img");
  try {
    renameSync(img.dir, moved);
    await storageDriver(img.spec.backend, ctx.host.run).destroy({
      spec: { ...img.spec, path: join(moved, "rootfs") } as RootfsRef["spec"],
      dir: moved,
    });
  } finally {
    await aside.release();
  }
  return meta;
}
