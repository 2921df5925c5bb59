/**
 * The websocket endpoints: `GET /1.0/events` (the events stream) and
 * `GET /1.0/operations/ID/websocket?secret=S` (an exec's or console's
 * streams). Both are upgrades on the listener's own server; anything else
 * asking to upgrade gets LXD's 404 in plain HTTP.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import { forwardUpgrade } from "./cluster-forward.js";
import type { Daemon } from "./daemon.js";
import { errorBody } from "./envelope.js";
import { type EventType, MAX_BUFFERED, parseEventTypes } from "./events.js";

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify(errorBody(status, message));
  socket.end(
    `HTTP/1.1 ${status} ${status === 404 ? "Not Found" : status === 403 ? "Forbidden" : "Bad Request"}\r\n` +
      `Content-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

export function handleUpgrade(
  d: Daemon,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const url = new URL(req.url ?? "/", "http://lxtd");
  const path = url.pathname.replace(/\/+$/, "");
  if (path === "/1.0/events") {
    let types: Set<EventType>;
    try {
      types = parseEventTypes(url.searchParams.get("type") ?? undefined);
    } catch (err) {
      refuse(socket, 400, (err as Error).message);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => subscribeEvents(d, ws, types));
    return;
  }
  const m = /^\/1\.0\/operations\/([0-9a-f-]{36})\/websocket$/.exec(path);
  if (m?.[1]) {
    const op = d.operations.get(m[1]);
    // Another member's operation (an exec forwarded through this member): piped there.
    if (!op && forwardUpgrade(d, m[1], req, socket, head)) return;
    const secret = url.searchParams.get("secret") ?? "";
    if (!op?.spec.connect || op.final) {
      refuse(socket, 404, "Operation not found");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!op.spec.connect?.(secret, ws)) ws.close(1008, "bad secret");
    });
    return;
  }
  refuse(socket, 404, "not found");
}

function subscribeEvents(d: Daemon, ws: WebSocket, types: Set<EventType>): void {
  const unsubscribe = d.events.subscribe({
    types,
    send(event) {
      if (ws.readyState !== ws.OPEN) return false;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        ws.terminate();
        return false;
      }
      ws.send(JSON.stringify(event));
      return true;
    },
  });
  // Clients send nothing but pings; a close or an error ends the subscription.
  ws.on("close", unsubscribe);
  ws.on("error", unsubscribe);
  ws.on("message", () => {});
}
