/**
 * Any member answers any request: a request for an instance another member
 * holds (`/1.0/instances/NAME...`), for an operation it runs, or a create
 * placed on another member (`?target=`, or the least loaded member) is
 * forwarded to that member over HTTPS with this member's certificate, and
 * its answer goes back unchanged. Operation websockets (exec, console) are
 * piped byte for byte. The stock client waits for an operation's final
 * event on this member's `/1.0/events`: for an operation it forwarded, this
 * member waits on the owner (`/wait`) and emits that final state here.
 */
import { existsSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { request } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { containerPaths } from "../container/paths.js";
import { hasImage, imageHolder } from "./cluster-images.js";
import { connectPeer, fromPeer, memberNamed, peerJson } from "./cluster-peers.js";
import { leastLoaded } from "./cluster-place.js";
import type { Daemon } from "./daemon.js";
import { ApiError, errorBody, errorOf } from "./envelope.js";
import type { MemberView } from "./types.js";

/** Largest JSON answer looked into for an operation (bigger ones stream through). */
const MAX_PEEK = 1024 * 1024;
/** How long this member remembers who runs an operation it forwarded, once it ended. */
const KEEP_OP_MS = 60_000;

/** Operations forwarded through this member: id → the member running it. */
const remoteOps = new WeakMap<Daemon, Map<string, MemberView>>();

function opsOf(d: Daemon): Map<string, MemberView> {
  let m = remoteOps.get(d);
  if (!m) {
    m = new Map();
    remoteOps.set(d, m);
  }
  return m;
}

/** The member that holds instance `name` when it is not this one; undefined when it is local or free. */
async function ownerOf(d: Daemon, name: string): Promise<MemberView | undefined> {
  const cluster = d.cluster;
  if (!cluster) return undefined;
  try {
    if (existsSync(containerPaths(d.ctx, name).config)) return undefined;
  } catch {
    return undefined; // not a name: the route says so
  }
  const holder = await cluster.holder(name);
  if (holder === undefined || holder === cluster.member) return undefined;
  return await memberNamed(d, holder);
}

/**
 * Where a create goes: the member `target` names (404 when there is none),
 * else the least loaded online member; undefined when that is this one.
 */
async function placement(d: Daemon, target: string | undefined): Promise<MemberView | undefined> {
  const cluster = d.cluster;
  if (!cluster || target === cluster.member) return undefined;
  const members = await cluster.members();
  if (target !== undefined && target !== "") {
    const m = members.find((x) => x.name === target);
    if (!m) throw new ApiError(404, `Cluster member "${target}" not found`);
    return m;
  }
  const best = leastLoaded(members, cluster.member);
  return best?.name === cluster.member ? undefined : best;
}

/** The member a request is for when it is not this one. */
async function destination(d: Daemon, req: FastifyRequest): Promise<MemberView | undefined> {
  const [path = "", query = ""] = req.url.split("?", 2);
  const inst = /^\/1\.0\/instances\/([^/]+)(?:\/.*)?$/.exec(path);
  if (inst?.[1]) return await ownerOf(d, decodeURIComponent(inst[1]));
  // A member's evacuate or restore runs on that member.
  const state = /^\/1\.0\/cluster\/members\/([^/]+)\/state\/?$/.exec(path);
  if (req.method === "POST" && state?.[1]) {
    const name = decodeURIComponent(state[1]);
    return name === d.cluster?.member ? undefined : await memberNamed(d, name);
  }
  const op = /^\/1\.0\/operations\/([^/]+)(?:\/wait)?\/?$/.exec(path);
  if (op?.[1] && !d.operations.get(op[1])) return opsOf(d).get(op[1]);
  // Images are the cluster's: one this member lacks is shown by a member that has it.
  const img = /^\/1\.0\/images\/(aliases\/)?([^/]+)\/?$/.exec(path);
  if (req.method === "GET" && img?.[2] && (img[1] || img[2] !== "aliases")) {
    if (hasImage(d, decodeURIComponent(img[2]), img[1] !== undefined)) return undefined;
    return (await imageHolder(d, path))?.member;
  }
  if (req.method === "POST" && /^\/1\.0\/instances\/?$/.test(path)) {
    // A backup or image upload is made where it is sent.
    const type = String(req.headers["content-type"] ?? "application/json");
    if (!type.startsWith("application/json")) return undefined;
    return await placement(d, new URLSearchParams(query).get("target") ?? undefined);
  }
  return undefined;
}

/** The request's URL for `m`: a create names its member (`target=`), so `m` places it on itself. */
function urlFor(req: FastifyRequest, m: MemberView): string {
  if (req.method !== "POST" || !/^\/1\.0\/instances\/?(\?|$)/.test(req.url)) return req.url;
  const [path, query = ""] = req.url.split("?", 2);
  const q = new URLSearchParams(query);
  q.set("target", m.name);
  return `${path}?${q}`;
}

/** Headers that belong to one connection, not to the request or answer forwarded. */
const HOP = new Set(["connection", "keep-alive", "host", "upgrade", "proxy-connection"]);

function endToEnd(headers: IncomingMessage["headers"]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined && !HOP.has(k)) out[k] = v;
  }
  return out;
}

/** Sends the request to `m` and its answer back; an operation it starts is remembered. */
async function forward(d: Daemon, req: FastifyRequest, reply: FastifyReply, m: MemberView) {
  const sock = await connectPeer(d, m);
  reply.hijack();
  const out = reply.raw;
  const up = request({
    method: req.method,
    path: urlFor(req, m),
    createConnection: () => sock,
    headers: { ...endToEnd(req.raw.headers), host: new URL(m.address).host, connection: "close" },
  });
  up.on("response", (res) => {
    const headers = endToEnd(res.headers);
    const length = Number(res.headers["content-length"] ?? Number.NaN);
    const json = String(res.headers["content-type"] ?? "").startsWith("application/json");
    if (!json || !(length <= MAX_PEEK)) {
      out.writeHead(res.statusCode ?? 502, headers);
      res.pipe(out);
      return;
    }
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.on("end", () => {
      const body = Buffer.concat(chunks);
      noteOperation(d, m, body);
      out.writeHead(res.statusCode ?? 502, headers);
      out.end(body);
    });
  });
  up.on("error", (err) => {
    d.log.warn({ err, member: m.name, url: req.url }, "cluster: forwarding failed");
    if (!out.headersSent) {
      const body = errorBody(503, `Cluster member ${m.name} (${m.address}): ${err.message}`);
      out.writeHead(503, { "content-type": "application/json" });
      out.end(JSON.stringify(body));
    } else out.destroy();
  });
  req.raw.pipe(up);
}

/**
 * An async answer from `m`: its operation is remembered as `m`'s, and this
 * member waits for its end there and emits the final state as an
 * `operation` event, the event the stock client waits for.
 */
function noteOperation(d: Daemon, m: MemberView, body: Buffer): void {
  let parsed: { type?: unknown; metadata?: { id?: unknown; status_code?: unknown } };
  try {
    parsed = JSON.parse(body.toString()) as typeof parsed;
  } catch {
    return;
  }
  const id = parsed.metadata?.id;
  if (parsed.type !== "async" || typeof id !== "string") return;
  const ops = opsOf(d);
  ops.set(id, m);
  const forget = () => setTimeout(() => ops.delete(id), KEEP_OP_MS).unref();
  if (typeof parsed.metadata?.status_code === "number" && parsed.metadata.status_code >= 200) {
    forget();
    return;
  }
  peerJson(d, m, "GET", `/1.0/operations/${id}/wait?timeout=-1`)
    .then((r) => {
      if (r.status === 200) d.events.emit("operation", r.body.metadata);
    })
    .catch((err: unknown) =>
      d.log.warn({ err, member: m.name, operation: id }, "cluster: lost a forwarded operation"),
    )
    .finally(forget);
}

/** The hook that forwards, registered with the routes (after the trust check). */
export function registerClusterForward(app: FastifyInstance, d: Daemon): void {
  app.addHook("onRequest", async (req, reply) => {
    if (!d.cluster || reply.sent || fromPeer(d, req.raw)) return;
    const m = await destination(d, req);
    if (m) await forward(d, req, reply, m);
  });
}

/**
 * Pipes a websocket upgrade for an operation another member runs (one this
 * member forwarded) to that member, bytes both ways. False when the
 * operation is not one of those.
 */
export function forwardUpgrade(
  d: Daemon,
  id: string,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): boolean {
  const m = opsOf(d).get(id);
  if (!m) return false;
  connectPeer(d, m)
    .then((peer) => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`, `Host: ${new URL(m.address).host}`];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i]?.toLowerCase() === "host") continue;
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      }
      peer.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) peer.write(head);
      socket.pipe(peer);
      peer.pipe(socket);
      peer.on("error", () => socket.destroy());
      socket.on("error", () => peer.destroy());
      peer.on("close", () => socket.destroy());
      socket.on("close", () => peer.destroy());
    })
    .catch((err: unknown) => {
      const { status, message } = errorOf(err);
      const body = JSON.stringify(errorBody(status, message));
      socket.end(
        `HTTP/1.1 ${status} Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  return true;
}
