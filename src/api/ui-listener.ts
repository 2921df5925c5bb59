/**
 * The web UI's loopback listener: plain HTTP on a loopback address, the
 * same app as the other listeners but trusting no client by its transport,
 * only by a UI session (browsers cannot reach a unix socket, and a
 * self-signed HTTPS certificate would greet a local user with a warning).
 * It starts when `lxt ui` first asks for a token, and stays for the
 * daemon's life on the port it got.
 */
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Daemon, UiLocalControl } from "./daemon.js";
import { ApiError } from "./envelope.js";
import { splitAddress } from "./https.js";
import { buildApp } from "./server.js";

/** The address the listener takes when none is given: loopback, a port the kernel picks. */
export const DEFAULT_UI_ADDRESS = "127.0.0.1:0";

/** Whether a host is a loopback address (the only kind this listener takes). */
export function loopbackHost(host: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(host) || host === "::1" || host === "localhost";
}

export class UiListener implements UiLocalControl {
  private app?: FastifyInstance;
  private starting?: Promise<string>;

  constructor(
    private readonly d: Daemon,
    private readonly address = DEFAULT_UI_ADDRESS,
  ) {
    const { host } = splitAddress(address);
    if (!loopbackHost(host))
      throw new ApiError(400, `UI address ${address}: only a loopback address serves plain HTTP`);
  }

  ensure(): Promise<string> {
    this.starting ??= this.listen().catch((err: unknown) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async listen(): Promise<string> {
    const { host, port } = splitAddress(this.address);
    const app = buildApp(this.d, { trusted: () => false });
    try {
      await app.listen({ host, port: /:\d+$/.test(this.address) ? port : 0 });
    } catch (err) {
      await app.close();
      const e = err as NodeJS.ErrnoException;
      throw new ApiError(
        500,
        `cannot listen on ${this.address} for the UI: ${e.code ?? e.message}`,
      );
    }
    this.app = app;
    const bound = (app.server.address() as AddressInfo).port;
    const base = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
    this.d.log.info({ url: base }, "ui listening");
    return base;
  }

  /** The base URL, when listening. */
  get url(): Promise<string> | undefined {
    return this.starting;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = undefined;
    this.starting = undefined;
    if (!app) return;
    const closing = app.close();
    app.server.closeAllConnections();
    await closing;
  }
}
