/**
 * Images copied to a member on first use: a create from an image this
 * member does not have (by alias or fingerprint, no `source.server`) is
 * turned into LXD's pull from a member that has it, the way `lxc launch
 * REMOTE:IMAGE` pulls between servers (image-pull.ts): the holder hands out
 * a one-time secret, this member fetches the export with it, the holder's
 * certificate pinned. Then the image is this member's too.
 */
import type { FastifyInstance } from "fastify";
import { memberAsked, peerJson } from "./cluster-peers.js";
import type { Daemon } from "./daemon.js";
import { findImageJson } from "./images-view.js";
import type { MemberView } from "./types.js";

interface ImageSourceBody {
  type?: unknown;
  alias?: unknown;
  fingerprint?: unknown;
  server?: unknown;
}

/** What a pull from member `m` needs: its address, the image, a secret and its certificate. */
interface MemberPull {
  server: string;
  fingerprint: string;
  secret: string;
  certificate: string;
}

/** The API path of image `ref` (an alias when `byAlias`). */
function imagePath(ref: string, byAlias: boolean): string {
  return byAlias
    ? `/1.0/images/aliases/${encodeURIComponent(ref)}`
    : `/1.0/images/${encodeURIComponent(ref)}`;
}

/**
 * The first other online member that answers `GET path` (an image or an
 * alias) with it, and what it answered; undefined when none has it.
 */
export async function imageHolder(
  d: Daemon,
  path: string,
): Promise<{ member: MemberView; metadata: Record<string, unknown> } | undefined> {
  const cluster = d.cluster;
  if (!cluster) return undefined;
  for (const m of await cluster.members()) {
    if (m.name === cluster.member || !m.online) continue;
    const found = await peerJson(d, m, "GET", path).catch(() => undefined);
    if (found?.status === 200) {
      return { member: m, metadata: (found.body.metadata ?? {}) as Record<string, unknown> };
    }
  }
  return undefined;
}

/** Whether this member has image `ref` itself (an alias when `byAlias`). */
export function hasImage(d: Daemon, ref: string, byAlias: boolean): boolean {
  return findImageJson(d.ctx.lxcpath, ref, byAlias) !== undefined;
}

/** A member that has image `ref`, with a secret to pull it by; undefined when none has it. */
async function pullFromMember(
  d: Daemon,
  ref: string,
  byAlias: boolean,
): Promise<MemberPull | undefined> {
  const held = await imageHolder(d, imagePath(ref, byAlias));
  if (!held) return undefined;
  const m = held.member;
  const fingerprint = String((byAlias ? held.metadata.target : held.metadata.fingerprint) ?? "");
  const token = await memberAsked(d, m, "POST", `/1.0/images/${fingerprint}/secret`, {});
  const server = await memberAsked(d, m, "GET", "/1.0");
  return {
    server: m.address,
    fingerprint,
    secret: String((token.metadata as { secret?: unknown } | undefined)?.secret ?? ""),
    certificate: String(
      (server.environment as { certificate?: unknown } | undefined)?.certificate ?? "",
    ),
  };
}

/** The hook that turns a create from a missing image into a pull from a member that has it. */
export function registerClusterImages(app: FastifyInstance, d: Daemon): void {
  app.addHook("preHandler", async (req) => {
    if (!d.cluster || req.method !== "POST" || !/^\/1\.0\/instances\/?(\?|$)/.test(req.url)) {
      return;
    }
    const body = req.body as { source?: ImageSourceBody } | undefined;
    const src = body && typeof body === "object" ? body.source : undefined;
    if (src?.type !== "image" || src.server !== undefined) return;
    const byAlias = typeof src.fingerprint !== "string" || src.fingerprint === "";
    const ref = byAlias ? src.alias : src.fingerprint;
    if (typeof ref !== "string" || ref === "") return;
    if (hasImage(d, ref, byAlias)) return;
    const pull = await pullFromMember(d, ref, byAlias);
    if (!pull) return; // the create says the image is not found
    d.log.info({ image: ref, from: pull.server }, "cluster: copying an image from a member");
    (body as { source: unknown }).source = { ...src, ...pull, mode: "pull", protocol: "lxd" };
  });
}
