/**
 * lxtd's HTTPS listener: the same app as the unix socket's, over TLS with
 * the server's own certificate, asking every client for its certificate and
 * trusting those whose fingerprint is in the trust store. It moves live when
 * `core.https_address` changes (the old listener stays until the new one
 * listens).
 */
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { FastifyInstance } from "fastify";
import type { Daemon, HttpsControl } from "./daemon.js";
import { badRequest } from "./envelope.js";
import { buildApp } from "./server.js";
import { peerFingerprint, serverIdentity } from "./tls.js";

/** LXD's port when an address gives none. */
export const DEFAULT_PORT = 8443;

/** `ADDR:PORT`, `[V6]:PORT`, `:PORT` or `ADDR` as a host (empty: every address) and a port. */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(address.trim());
  const port = m?.[3] === undefined ? DEFAULT_PORT : Number(m[3]);
  if (!m || port > 65535)
    throw badRequest(`Invalid HTTPS address "${address}": expected ADDRESS:PORT`);
  return { host: m[1] ?? m[2] ?? "", port };
}

/** Whether a host means every address of the machine. */
function wildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** The `ADDR:PORT` strings a listener on host:port is reached at (`environment.addresses`). */
export function listenAddresses(host: string, port: number): string[] {
  if (!wildcard(host)) return [host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (a.family === "IPv6" && a.address.startsWith("fe80"))) continue;
      if (host === "0.0.0.0" && a.family !== "IPv4") continue;
      out.push(a.family === "IPv6" ? `[${a.address}]:${port}` : `${a.address}:${port}`);
    }
  }
  return out;
}

/**
 * Whether an HTTPS request's client is trusted: its certificate is in the
 * trust store, as a `client` (anything) or a `metrics` certificate (only
 * `/1.0/metrics`, as LXD).
 */
export function trustedClient(d: Daemon, req: IncomingMessage): boolean {
  const fp = peerFingerprint(req);
  const entry = fp ? d.trust.get(fp) : undefined;
  if (!entry) return false;
  if (entry.type === "client") return true;
  return (req.url ?? "").split("?")[0]?.replace(/\/+$/, "") === "/1.0/metrics";
}

export class HttpsListener implements HttpsControl {
  private app?: FastifyInstance;
  private address?: string;

  constructor(private readonly d: Daemon) {}

  async listen(address: string | undefined): Promise<void> {
    if (address === this.address) return;
    if (address === undefined || address === "") {
      await this.stop();
      return;
    }
    const { host, port } = splitAddress(address);
    const id = await serverIdentity(this.d.stateDir, this.d.serverName);
    const app = buildApp(this.d, {
      trusted: (req) => trustedClient(this.d, req),
      https: {
        cert: id.cert,
        key: id.key,
        // Asked for, never verified: trust is the fingerprint's presence in the store.
        requestCert: true,
        rejectUnauthorized: false,
        minVersion: "TLSv1.2",
      },
    });
    try {
      await app.listen({ host: host === "" ? "::" : host, port });
    } catch (err) {
      await app.close();
      const e = err as NodeJS.ErrnoException;
      throw badRequest(`Cannot listen on https socket ${address}: ${e.code ?? e.message}`);
    }
    const old = this.app;
    this.app = app;
    this.address = address;
    const bound = (app.server.address() as AddressInfo).port;
    this.d.tls = {
      certificate: id.cert,
      fingerprint: id.fingerprint,
      addresses: listenAddresses(host, bound),
    };
    this.d.log.info({ address, port: bound }, "https listening");
    if (old) await closeApp(old);
  }

  /** The port bound (with `:0`, the one the kernel chose), or undefined when not listening. */
  get port(): number | undefined {
    return this.app ? (this.app.server.address() as AddressInfo).port : undefined;
  }

  async stop(): Promise<void> {
    const old = this.app;
    this.app = undefined;
    this.address = undefined;
    this.d.tls = undefined;
    if (old) await closeApp(old);
  }
}

/** Closes an app and every connection it has, idle or not (a moved listener drops its clients). */
async function closeApp(app: FastifyInstance): Promise<void> {
  const closing = app.close();
  app.server.closeAllConnections();
  await closing;
}
