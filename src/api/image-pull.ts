/**
 * Images between servers, as LXD moves them for `lxc launch IMAGE
 * REMOTE:NAME` and `lxc image copy`: the source hands out a one-time secret
 * (`POST /1.0/images/FP/secret`, a token operation), the client gives it to
 * the target with the source's address and certificate, and the target
 * pulls `GET /1.0/images/FP/export?secret=S` over HTTPS, the source's
 * certificate pinned. A target that has the image already (the built-in
 * busybox every lxtd has, or one it stored before) uses its own copy.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { get } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { importImage } from "../images/store.js";
import type { Daemon } from "./daemon.js";
import { ApiError, badRequest } from "./envelope.js";
import { findImageJson } from "./images-view.js";
import type { Operation } from "./operations.js";
import { receiveImage } from "./routes/images.js";

/** What the target is told of the source (LXD's InstanceSource for mode `pull`). */
export interface PullSource {
  server: string;
  fingerprint?: string;
  alias?: string;
  secret?: string;
  certificate?: string;
  protocol?: string;
}

/** Live secrets: each names the one image it opens and the token operation that holds it. */
const secrets = new WeakMap<Daemon, Map<string, { fingerprint: string; op: Operation }>>();

function table(d: Daemon) {
  let t = secrets.get(d);
  if (!t) {
    t = new Map();
    secrets.set(d, t);
  }
  return t;
}

/** A secret for image `fingerprint`, valid until used or its operation is cancelled. */
export function issueImageSecret(d: Daemon, fingerprint: string): Operation {
  const secret = randomBytes(32).toString("hex");
  const url = `/1.0/images/${fingerprint}`;
  const op = d.operations.start({
    class: "token",
    description: "Image download token",
    resources: { images: [url] },
    metadata: { secret },
    mayCancel: true,
    run: (self) =>
      new Promise<void>((done) => {
        table(d).set(secret, { fingerprint, op: self });
        const end = () => {
          table(d).delete(secret);
          done();
        };
        if (self.signal.aborted) end();
        else self.signal.addEventListener("abort", end, { once: true });
      }),
  });
  return op;
}

/**
 * Whether an untrusted request is one a secret opens: `GET` of that image or
 * of its export, with `?secret=`.
 */
export function secretOpens(d: Daemon, method: string, url: string): boolean {
  if (method !== "GET") return false;
  const u = new URL(url, "http://lxtd");
  const m = /^\/1\.0\/images\/([0-9a-f]{64})(\/export)?\/?$/.exec(u.pathname);
  const secret = u.searchParams.get("secret");
  if (!m || !secret) return false;
  return table(d).get(secret)?.fingerprint === m[1];
}

/** Ends a secret once its image was sent (one use, as LXD's). */
export function spendSecret(d: Daemon, url: string): void {
  const secret = new URL(url, "http://lxtd").searchParams.get("secret");
  const held = secret ? table(d).get(secret) : undefined;
  if (held) d.operations.cancel(held.op);
}

/** The DER bytes of a PEM certificate, to compare with what a server presents. */
function derOf(pem: string): Buffer {
  try {
    return new X509Certificate(pem).raw;
  } catch {
    throw badRequest("Invalid source certificate");
  }
}

function fetchExport(src: PullSource, fingerprint: string): Promise<IncomingMessage> {
  const base = src.server.replace(/\/+$/, "");
  if (!/^https:\/\//.test(base)) throw badRequest(`Invalid source server "${src.server}"`);
  const url = `${base}/1.0/images/${fingerprint}/export${src.secret ? `?secret=${encodeURIComponent(src.secret)}` : ""}`;
  const pinned = src.certificate ? derOf(src.certificate) : undefined;
  return new Promise((resolve, reject) => {
    // The source's certificate is self-signed: it is checked against the one the client gave.
    const req = get(url, { rejectUnauthorized: false, timeout: 30_000 }, (res) => {
      const peer = (res.socket as TLSSocket).getPeerCertificate?.();
      if (!pinned || !peer?.raw?.equals(pinned)) {
        res.destroy();
        reject(
          badRequest(`The source server ${base} did not present the certificate it was given`),
        );
        return;
      }
      if (res.statusCode !== 200) {
        let text = "";
        res.on("data", (b: Buffer) => {
          if (text.length < 4096) text += b.toString();
        });
        res.on("end", () => {
          let why = text;
          try {
            why = (JSON.parse(text) as { error?: string }).error ?? text;
          } catch {
            // not LXD's envelope
          }
          reject(
            new ApiError(
              502,
              `Failed to fetch image ${fingerprint} from ${base}: ${res.statusCode} ${why}`,
            ),
          );
        });
        return;
      }
      resolve(res);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 30 s")));
    req.on("error", (err) =>
      reject(
        new ApiError(502, `Failed to fetch image ${fingerprint} from ${base}: ${err.message}`),
      ),
    );
  });
}

/**
 * The local fingerprint of the image a pull names: the image itself when
 * this server has it, else downloaded from the source into the store
 * (checked against its fingerprint). An alias alone (a public image) must
 * be known here.
 */
export async function pullImage(d: Daemon, src: PullSource): Promise<string> {
  if (src.protocol && src.protocol !== "lxd") {
    throw new ApiError(501, `Image protocol "${src.protocol}" is not supported (only lxd)`);
  }
  const fp = src.fingerprint;
  const known = fp
    ? findImageJson(d.ctx.lxcpath, fp, false)
    : src.alias
      ? findImageJson(d.ctx.lxcpath, src.alias, true)
      : undefined;
  if (known) return known.fingerprint;
  if (!fp || !/^[0-9a-f]{64}$/.test(fp)) {
    throw badRequest(
      "A pulled image is named by its whole fingerprint (an alias only when this server has it)",
    );
  }
  const dir = join(d.stateDir, "uploads", randomBytes(8).toString("hex"));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const res = await fetchExport(src, fp);
    const files = await receiveImage(res, res.headers["content-type"], dir, "image.tar");
    const out = await importImage(
      d.ctx,
      files.map((f) => f.path),
      {
        keep: { meta: files[0]?.name ?? "", ...(files[1] ? { rootfs: files[1].name } : {}) },
        describe: { public: false },
        expect: fp,
      },
    );
    d.events.lifecycle("image-created", `/1.0/images/${out.meta.fingerprint}`);
    return out.meta.fingerprint;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
