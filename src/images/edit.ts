/**
 * Changes to stored images' metadata: their aliases (an alias names one
 * image, as in LXD) and LXD's editable fields (properties, public,
 * auto_update). Each change is a read-modify-write of `metadata.json`
 * files under the state root's image lock, so two changes never lose one
 * another.
 */
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { runtimeRoot } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { checkAlias, type ImageMeta } from "./metadata.js";
import { listImages, writeMeta } from "./store.js";

/** Runs `fn` with the state root's image-metadata lock held. */
async function withImageLock<T>(ctx: Context, fn: () => T | Promise<T>): Promise<T> {
  const lock = await ctx.host.lock(
    join(runtimeRoot(ctx.runDir, ctx.lxcpath), "locks", ".images"),
    "image metadata",
  );
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

function byFingerprint(lxcpath: string, fingerprint: string): ImageMeta {
  const meta = listImages(lxcpath).find((i) => i.fingerprint === fingerprint);
  if (!meta) throw new LxtError("not-found", `image ${fingerprint}: not in the local store`);
  return meta;
}

function byAlias(lxcpath: string, alias: string): ImageMeta {
  const meta = listImages(lxcpath).find((i) => i.aliases.includes(alias));
  if (!meta) throw new LxtError("not-found", `image alias "${alias}": no such alias`);
  return meta;
}

function withoutAlias(meta: ImageMeta, alias: string): ImageMeta {
  const descs = { ...meta.aliasDescriptions };
  delete descs[alias];
  return { ...meta, aliases: meta.aliases.filter((a) => a !== alias), aliasDescriptions: descs };
}

function withAlias(meta: ImageMeta, alias: string, description: string): ImageMeta {
  const descs = { ...meta.aliasDescriptions };
  if (description) descs[alias] = description;
  else delete descs[alias];
  const aliases = meta.aliases.includes(alias) ? meta.aliases : [...meta.aliases, alias];
  return { ...meta, aliases, aliasDescriptions: descs };
}

/** Adds alias `alias` to the image `fingerprint`; an alias some image already has is refused. */
export function createAlias(
  ctx: Context,
  alias: string,
  fingerprint: string,
  description = "",
): Promise<ImageMeta> {
  checkAlias(alias);
  return withImageLock(ctx, () => {
    const taken = listImages(ctx.lxcpath).find((i) => i.aliases.includes(alias));
    if (taken) throw new LxtError("exists", `image alias "${alias}" already exists`);
    const next = withAlias(byFingerprint(ctx.lxcpath, fingerprint), alias, description);
    writeMeta(ctx.lxcpath, next);
    return next;
  });
}

/** Points `alias` at `fingerprint` (moved off its image) and sets its description. */
export function updateAlias(
  ctx: Context,
  alias: string,
  change: { target?: string; description?: string },
): Promise<ImageMeta> {
  return withImageLock(ctx, () => {
    const cur = byAlias(ctx.lxcpath, alias);
    const description = change.description ?? cur.aliasDescriptions?.[alias] ?? "";
    if (!change.target || change.target === cur.fingerprint) {
      const next = withAlias(cur, alias, description);
      writeMeta(ctx.lxcpath, next);
      return next;
    }
    const target = byFingerprint(ctx.lxcpath, change.target);
    writeMeta(ctx.lxcpath, withoutAlias(cur, alias));
    const next = withAlias(target, alias, description);
    writeMeta(ctx.lxcpath, next);
    return next;
  });
}

/** Renames alias `from` to `to` (which must be free), keeping its description. */
export function renameAlias(ctx: Context, from: string, to: string): Promise<ImageMeta> {
  checkAlias(to);
  return withImageLock(ctx, () => {
    const cur = byAlias(ctx.lxcpath, from);
    if (listImages(ctx.lxcpath).some((i) => i.aliases.includes(to))) {
      throw new LxtError("exists", `image alias "${to}" already exists`);
    }
    const description = cur.aliasDescriptions?.[from] ?? "";
    const renamed = withoutAlias(cur, from);
    renamed.aliases = cur.aliases.map((a) => (a === from ? to : a));
    const next = withAlias(renamed, to, description);
    writeMeta(ctx.lxcpath, next);
    return next;
  });
}

/** Removes an alias (the image stays). */
export function deleteAlias(ctx: Context, alias: string): Promise<ImageMeta> {
  return withImageLock(ctx, () => {
    const next = withoutAlias(byAlias(ctx.lxcpath, alias), alias);
    writeMeta(ctx.lxcpath, next);
    return next;
  });
}

/** LXD's editable fields of an image. */
export interface ImageEdit {
  properties?: Record<string, string>;
  public?: boolean;
  autoUpdate?: boolean;
}

/** Sets the given fields of image `fingerprint` (properties replaced as a whole). */
export function editImage(ctx: Context, fingerprint: string, edit: ImageEdit): Promise<ImageMeta> {
  return withImageLock(ctx, () => {
    const next = { ...byFingerprint(ctx.lxcpath, fingerprint) };
    if (edit.properties !== undefined) next.properties = { ...edit.properties };
    if (edit.public !== undefined) next.public = edit.public;
    if (edit.autoUpdate !== undefined) next.autoUpdate = edit.autoUpdate;
    writeMeta(ctx.lxcpath, next);
    return next;
  });
}
