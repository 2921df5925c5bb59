/**
 * Images as LXD shows them: the local store's, and the built-in busybox
 * template as an image of its own (alias `busybox`), so that a fresh host
 * can `lxc launch busybox c1` with no network and no import.
 */
import { createHash } from "node:crypto";
import type { ImageMeta } from "../images/metadata.js";
import { listImages } from "../images/store.js";
import { ARCH } from "./instance-view.js";
import type { ImageJson } from "./types.js";

/** The busybox template's fingerprint: a name, stable across hosts and versions. */
export const BUSYBOX_FINGERPRINT = createHash("sha256")
  .update("lxt busybox template")
  .digest("hex");

export type { ImageJson } from "./types.js";

const EPOCH = "1970-01-01T00:00:00Z";

/** What a create from an image needs: the busybox template, or a stored image's fingerprint. */
export type ImageSource = { template: "busybox" } | { fingerprint: string };

export function busyboxImage(): ImageJson {
  return {
    aliases: [{ name: "busybox", description: "the built-in busybox template" }],
    architecture: ARCH,
    auto_update: false,
    cached: false,
    created_at: EPOCH,
    expires_at: EPOCH,
    filename: "",
    fingerprint: BUSYBOX_FINGERPRINT,
    last_used_at: EPOCH,
    profiles: ["default"],
    properties: {
      os: "busybox",
      description: "busybox (built-in template, the host's busybox-static)",
    },
    public: false,
    size: 0,
    type: "container",
    uploaded_at: EPOCH,
  };
}

export function storedImage(m: ImageMeta): ImageJson {
  return {
    aliases: m.aliases.map((name) => ({ name, description: m.aliasDescriptions?.[name] ?? "" })),
    architecture: m.architecture,
    auto_update: m.autoUpdate ?? false,
    cached: false,
    created_at: m.created,
    expires_at: EPOCH,
    filename: m.files?.meta ?? "",
    fingerprint: m.fingerprint,
    last_used_at: EPOCH,
    profiles: ["default"],
    properties: m.properties ?? (m.description ? { description: m.description } : {}),
    public: m.public ?? false,
    size: m.size ?? 0,
    type: "container",
    uploaded_at: m.created,
  };
}

/** Every image, the built-in one first. */
export function allImages(lxcpath: string): ImageJson[] {
  return [busyboxImage(), ...listImages(lxcpath).map(storedImage)];
}

/** The image an alias names, or the one a fingerprint (or a unique prefix of it) names. */
export function findImageJson(
  lxcpath: string,
  ref: string,
  byAlias: boolean,
): ImageJson | undefined {
  const all = allImages(lxcpath);
  if (byAlias) return all.find((i) => i.aliases.some((a) => a.name === ref));
  if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
  const hits = all.filter((i) => i.fingerprint.startsWith(ref));
  return hits.length === 1 ? hits[0] : undefined;
}

export function imageSource(img: ImageJson): ImageSource {
  return img.fingerprint === BUSYBOX_FINGERPRINT
    ? { template: "busybox" }
    : { fingerprint: img.fingerprint };
}
