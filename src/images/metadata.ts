/**
 * Image metadata: the store's `metadata.json`, LXD's `metadata.yaml`, and
 * how a name given to `create -t` / `launch` finds an image. Pure.
 */
import { parse as parseYaml } from "yaml";
import { LxtError } from "../core/errors.js";

/** `<state root>/images/<fingerprint>/metadata.json`. */
export interface ImageMeta {
  /** sha256 (hex) of the imported tarball(s), or of a canonical tar of a built tree. */
  fingerprint: string;
  aliases: string[];
  /** ISO 8601. */
  created: string;
  architecture: string;
  description: string;
  /** Where it came from: `busybox`, a file path, `lxd:FILE`. */
  source: string;
  /** Backend of the stored rootfs (`btrfs` subvolume when the store is on btrfs, else `dir`). */
  backend: string;
  /** Config entries every container made from it gets (beside rootfs and hostname). */
  config: Array<[string, string]>;
  /** LXD's image properties (`os`, `release`, ... from metadata.yaml, or set by lxtd). */
  properties?: Record<string, string>;
  /** LXD's `public` and `auto_update` flags (kept, shown; lxt serves no image server). */
  public?: boolean;
  autoUpdate?: boolean;
  /** Descriptions of aliases that have one. */
  aliasDescriptions?: Record<string, string>;
  /**
   * The uploaded files, kept under `files/` of the image's directory so an
   * export gives back the very bytes the fingerprint is the hash of:
   * `meta` (a unified tarball, or LXD's metadata tarball) and `rootfs`
   * (the split image's second file); the names are the uploader's.
   */
  files?: { meta: string; rootfs?: string };
  /** Total size of the imported file(s), in bytes. */
  size?: number;
}

/** Config of containers made from images that bring none: LXC's `lxc.mount.auto`, autodev, no network. */
export const DEFAULT_IMAGE_CONFIG: Array<[string, string]> = [
  ["lxc.tty.max", "1"],
  ["lxc.pty.max", "1024"],
  ["lxc.mount.auto", "proc:mixed sys:ro"],
  ["lxc.autodev", "1"],
  ["lxc.net.0.type", "empty"],
];

const ALIAS_RE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const FP_RE = /^[0-9a-f]{64}$/;

/** Checks an alias. Aliases win over fingerprint prefixes when an image is looked up. */
export function checkAlias(alias: string): string {
  if (!ALIAS_RE.test(alias)) throw new LxtError("usage", `bad image alias "${alias}"`);
  return alias;
}

/** Parses a store `metadata.json`; `where` names it in errors. */
export function parseImageMeta(text: string, where: string): ImageMeta {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new LxtError("config", `${where}: ${(err as Error).message}`, err);
  }
  const fp = v.fingerprint;
  if (typeof fp !== "string" || !FP_RE.test(fp)) {
    throw new LxtError("config", `${where}: bad or missing fingerprint`);
  }
  const s = (k: string, d = "") => (typeof v[k] === "string" ? (v[k] as string) : d);
  const aliases = Array.isArray(v.aliases) ? v.aliases.filter((a) => typeof a === "string") : [];
  const config = Array.isArray(v.config)
    ? v.config.filter(
        (e): e is [string, string] =>
          Array.isArray(e) && e.length === 2 && e.every((x) => typeof x === "string"),
      )
    : DEFAULT_IMAGE_CONFIG;
  const out: ImageMeta = {
    fingerprint: fp,
    aliases,
    created: s("created"),
    architecture: s("architecture"),
    description: s("description"),
    source: s("source"),
    backend: s("backend", "dir"),
    config,
  };
  const props = stringMap(v.properties);
  if (props) out.properties = props;
  if (typeof v.public === "boolean") out.public = v.public;
  if (typeof v.autoUpdate === "boolean") out.autoUpdate = v.autoUpdate;
  const descs = stringMap(v.aliasDescriptions);
  if (descs) out.aliasDescriptions = descs;
  const files = v.files as Record<string, unknown> | undefined;
  if (files && typeof files.meta === "string" && /^[^/]+$/.test(files.meta)) {
    out.files = { meta: files.meta };
    if (typeof files.rootfs === "string" && /^[^/]+$/.test(files.rootfs))
      out.files.rootfs = files.rootfs;
  }
  if (typeof v.size === "number") out.size = v.size;
  return out;
}

/** An object's string values (undefined when it is not an object). */
function stringMap(v: unknown): Record<string, string> | undefined {
  if (!v || typeof v !== "object" || Array.isArray(v)) return undefined;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === "string",
    ),
  );
}

/** What lxt takes from LXD's `metadata.yaml`: architecture, creation date, description, properties. */
export function parseLxdMetadata(
  text: string,
  where: string,
): {
  architecture: string;
  created?: string;
  description: string;
  properties: Record<string, string>;
} {
  let v: unknown;
  try {
    v = parseYaml(text);
  } catch (err) {
    throw new LxtError("usage", `${where}: metadata.yaml: ${(err as Error).message}`, err);
  }
  if (!v || typeof v !== "object") throw new LxtError("usage", `${where}: metadata.yaml is empty`);
  const o = v as Record<string, unknown>;
  if (typeof o.architecture !== "string") {
    throw new LxtError("usage", `${where}: metadata.yaml has no architecture`);
  }
  const props = (o.properties ?? {}) as Record<string, unknown>;
  const description =
    typeof props.description === "string"
      ? props.description
      : [props.os, props.release, props.variant].filter((x) => typeof x === "string").join(" ");
  const out: ReturnType<typeof parseLxdMetadata> = {
    architecture: o.architecture,
    description,
    properties: stringMap(props) ?? {},
  };
  if (typeof o.creation_date === "number") {
    out.created = new Date(o.creation_date * 1000).toISOString();
  }
  return out;
}

/**
 * The image `ref` names: an alias (exact), else a unique fingerprint prefix
 * (as `lxc image` takes them). Throws not-found or an ambiguity.
 */
export function resolveImage(images: readonly ImageMeta[], ref: string): ImageMeta {
  const byAlias = images.find((i) => i.aliases.includes(ref));
  if (byAlias) return byAlias;
  if (/^[0-9a-f]+$/.test(ref)) {
    const hits = images.filter((i) => i.fingerprint.startsWith(ref));
    if (hits.length === 1 && hits[0]) return hits[0];
    if (hits.length > 1) {
      throw new LxtError(
        "usage",
        `image "${ref}" is ambiguous: ${hits.map((h) => h.fingerprint.slice(0, 12)).join(", ")}`,
      );
    }
  }
  throw new LxtError("not-found", `no image "${ref}" in the local store (see lxt image list)`);
}

/** The architecture name LXD uses for this host (`x86_64`, `aarch64`, ...). */
export function hostArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: "x86_64",
    arm64: "aarch64",
    arm: "armv7l",
    ia32: "i686",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  return map[arch] ?? arch;
}
