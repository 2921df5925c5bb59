/**
 * OCI image layouts (image-spec `image-layout.md`): the index, the manifest
 * for this architecture, the config, and what a container made from the
 * image takes from the config (`lxc.init.cmd`, `lxc.environment`,
 * `lxc.init.cwd`, `lxc.init.uid`/`gid`). Pure but for `readBlob`, which
 * reads and verifies one content-addressed blob.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { LxtError } from "../core/errors.js";

export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string; variant?: string };
  annotations?: Record<string, string>;
}

/** What a container needs from an image config (`config` of image-spec `config.md`). */
export interface OciRunConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
  architecture: string;
}

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

/** The OCI architecture name (`amd64`, `arm64`, ...) for a Node `process.arch`. */
export function ociArchitecture(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: "amd64", ia32: "386", arm: "arm", ppc64: "ppc64le" };
  return map[arch] ?? arch;
}

function fail(where: string, what: string): never {
  throw new LxtError("usage", `oci image ${where}: ${what}`);
}

function parseJson(text: string, where: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch (err) {
    fail(where, `not JSON: ${(err as Error).message}`);
  }
  return fail(where, "not a JSON object");
}

/** Checks one descriptor: a sha256 digest, a size, a media type. */
export function parseDescriptor(v: unknown, where: string): OciDescriptor {
  if (!v || typeof v !== "object") fail(where, "a descriptor is not an object");
  const o = v as Record<string, unknown>;
  if (typeof o.digest !== "string" || !DIGEST_RE.test(o.digest)) {
    fail(where, `unsupported or bad digest ${JSON.stringify(o.digest)} (sha256 only)`);
  }
  if (typeof o.size !== "number" || !Number.isSafeInteger(o.size) || o.size < 0) {
    fail(where, `descriptor ${o.digest} has a bad size`);
  }
  const d: OciDescriptor = {
    mediaType: typeof o.mediaType === "string" ? o.mediaType : "",
    digest: o.digest,
    size: o.size,
  };
  if (o.platform && typeof o.platform === "object")
    d.platform = o.platform as OciDescriptor["platform"];
  if (o.annotations && typeof o.annotations === "object") {
    d.annotations = o.annotations as Record<string, string>;
  }
  return d;
}

/** The manifests an index lists (`manifests`), checked. */
export function parseIndex(text: string, where: string): OciDescriptor[] {
  const o = parseJson(text, where);
  if (o.schemaVersion !== 2) fail(where, "schemaVersion is not 2");
  if (!Array.isArray(o.manifests) || o.manifests.length === 0) fail(where, "lists no manifests");
  return o.manifests.map((m) => parseDescriptor(m, where));
}

/** Whether a descriptor points at an index (nested) rather than a manifest. */
export function isIndex(d: OciDescriptor): boolean {
  return d.mediaType === OCI_INDEX || d.mediaType === DOCKER_LIST;
}

/**
 * The manifest for `arch` (OCI name) on linux: the one whose platform
 * matches, or the only one when none says its platform. Throws naming the
 * architectures on offer.
 */
export function chooseManifest(
  manifests: readonly OciDescriptor[],
  arch: string,
  where: string,
): OciDescriptor {
  const usable = manifests.filter(
    (m) =>
      isIndex(m) || m.mediaType === OCI_MANIFEST || m.mediaType === DOCKER_MANIFEST || !m.mediaType,
  );
  const match = usable.find(
    (m) => m.platform?.architecture === arch && (m.platform.os ?? "linux") === "linux",
  );
  if (match) return match;
  const unlabelled = usable.filter((m) => !m.platform?.architecture);
  if (unlabelled.length === 1 && unlabelled[0]) return unlabelled[0];
  const offered = usable.map((m) => m.platform?.architecture ?? "?").join(", ");
  return fail(where, `no manifest for linux/${arch} (offered: ${offered || "none"})`);
}

/** A manifest's config and layers. */
export function parseManifest(
  text: string,
  where: string,
): { config: OciDescriptor; layers: OciDescriptor[] } {
  const o = parseJson(text, where);
  if (o.schemaVersion !== 2) fail(where, "manifest schemaVersion is not 2");
  if (!Array.isArray(o.layers)) fail(where, "manifest has no layers");
  return {
    config: parseDescriptor(o.config, where),
    layers: o.layers.map((l) => parseDescriptor(l, where)),
  };
}

/** Refuses a layer that is not a tar (compression is read from its magic number). */
export function checkLayerType(d: OciDescriptor, where: string): void {
  if (d.mediaType !== "" && !/(^|[./+])tar($|[.+])|rootfs\.diff\.tar/.test(d.mediaType)) {
    fail(where, `layer ${d.digest}: unsupported media type ${d.mediaType}`);
  }
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** The run config of an image config blob. */
export function parseImageConfig(text: string, where: string): OciRunConfig {
  const o = parseJson(text, where);
  const c = (o.config && typeof o.config === "object" ? o.config : {}) as Record<string, unknown>;
  return {
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === "string" ? c.WorkingDir : "",
    user: typeof c.User === "string" ? c.User : "",
    architecture: typeof o.architecture === "string" ? o.architecture : "",
  };
}

/** Quotes a word for `lxc.init.cmd` (`splitCommand` reads it back unchanged). */
export function quoteWord(w: string): string {
  if (/[\n\r]/.test(w)) throw new LxtError("usage", `oci image: a command word holds a newline`);
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`;
}

/** Resolves a name to its id in a passwd/group file's text (`name:x:ID:...`). */
export function lookupId(text: string, name: string): number | undefined {
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  return undefined;
}

/**
 * The config entries a container made from the image gets: init command
 * (Entrypoint + Cmd), environment, working directory, user and group.
 * `user` is `uid`, `uid:gid`, `name` or `name:group`; names are looked up in
 * the image's /etc/passwd and /etc/group texts. A user without a group takes
 * the passwd entry's primary group (as runc does).
 */
export function ociConfigLines(
  rc: OciRunConfig,
  files: { passwd?: string; group?: string },
  where: string,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const argv = [...rc.entrypoint, ...rc.cmd];
  if (argv.length > 0) out.push(["lxc.init.cmd", argv.map(quoteWord).join(" ")]);
  for (const e of rc.env) {
    if (!/^[^=\s]+=/.test(e) || /[\n\r]/.test(e)) fail(where, `bad Env entry ${JSON.stringify(e)}`);
    out.push(["lxc.environment", e]);
  }
  if (rc.workingDir) {
    if (!rc.workingDir.startsWith("/")) fail(where, `WorkingDir ${rc.workingDir} is not absolute`);
    out.push(["lxc.init.cwd", rc.workingDir]);
  }
  if (rc.user) {
    const [u = "", g] = rc.user.split(":");
    const uid = /^\d+$/.test(u) ? Number(u) : lookupId(files.passwd ?? "", u);
    if (uid === undefined) fail(where, `User ${u}: not in the image's /etc/passwd`);
    let gid: number | undefined;
    if (g !== undefined && g !== "") {
      gid = /^\d+$/.test(g) ? Number(g) : lookupId(files.group ?? "", g);
      if (gid === undefined) fail(where, `group ${g}: not in the image's /etc/group`);
    } else {
      const line = (files.passwd ?? "").split("\n").find((l) => l.split(":")[2] === String(uid));
      const pg = line?.split(":")[3];
      gid = pg && /^\d+$/.test(pg) ? Number(pg) : 0;
    }
    out.push(["lxc.init.uid", String(uid)], ["lxc.init.gid", String(gid)]);
  }
  return out;
}

/** The path of a blob in a layout directory. */
export function blobPath(layout: string, digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new LxtError("usage", `oci image ${layout}: bad digest ${digest}`);
  return join(layout, "blobs", "sha256", m[1] as string);
}

/** Throws unless a blob of `size` bytes is what descriptor `d` says. */
export function checkBlobSize(layout: string, d: OciDescriptor, size: number): void {
  if (size !== d.size) {
    fail(layout, `blob ${d.digest} is ${size} bytes, its descriptor says ${d.size}`);
  }
}

/** Throws unless a blob whose sha256 is `hex` is what descriptor `d` says. */
export function checkBlobDigest(layout: string, d: OciDescriptor, hex: string): void {
  const got = `sha256:${hex}`;
  if (got !== d.digest) fail(layout, `blob ${d.digest} is damaged (its sha256 is ${got})`);
}

/**
 * Reads blob `d` of the layout, checking its size and sha256 against the
 * descriptor; returns its bytes when `keep` (small JSON blobs).
 */
export function verifyBlob(layout: string, d: OciDescriptor, keep: boolean): Buffer | undefined {
  const file = blobPath(layout, d.digest);
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LxtError("not-found", `oci image ${layout}: blob ${d.digest}: ${code}`, err);
  }
  try {
    checkBlobSize(layout, d, fstatSync(fd).size);
    const h = createHash("sha256");
    const buf = Buffer.alloc(1 << 20);
    const parts: Buffer[] = [];
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      if (keep) parts.push(Buffer.from(buf.subarray(0, n)));
    }
    checkBlobDigest(layout, d, h.digest("hex"));
    return keep ? Buffer.concat(parts) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Whether `dir` is an OCI image layout (`oci-layout` and `index.json`). */
export function isOciLayout(dir: string): boolean {
  try {
    const v = JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8")) as Record<string, unknown>;
    return typeof v.imageLayoutVersion === "string";
  } catch {
    return false;
  }
}
