/**
 * lxtd's events (`GET /1.0/events`, a websocket) as an async iterator:
 * `for await (const ev of client.events({type: ["lifecycle"]}))`. Events
 * that arrive while nobody is iterating are queued; leaving the loop
 * (`break`, `return`, a throw) or `close()` closes the socket.
 */
import type { WebSocket } from "ws";
import type { EventType, LxdEvent } from "../../src/api/types.js";
import { LxdError } from "./errors.js";
import type { Transport } from "./transport.js";

export interface EventsOptions {
  /** Which kinds (default: all of `operation`, `lifecycle`, `logging`). */
  type?: readonly EventType[];
  /** Ends the stream (the iterator finishes normally). */
  signal?: AbortSignal;
}

export interface EventStream extends AsyncIterableIterator<LxdEvent> {
  /** Resolves once the daemon has subscribed this stream; rejects if it refused. */
  readonly ready: Promise<void>;
  /** Ends the stream: a pending `next()` resolves done. */
  close(): void;
}

/** Opens the events websocket and wraps it as an `EventStream`. */
export function openEvents(transport: Transport, opts: EventsOptions): EventStream {
  const query = opts.type?.length ? `?type=${opts.type.join(",")}` : "";
  const queue: LxdEvent[] = [];
  let waiting: ((r: IteratorResult<LxdEvent>) => void) | undefined;
  let failWaiting: ((err: unknown) => void) | undefined;
  let ended = false;
  let failure: unknown;
  let socket: WebSocket | undefined;

  const settle = () => {
    if (!waiting) return;
    const resolve = waiting;
    const reject = failWaiting;
    if (queue.length > 0) {
      waiting = failWaiting = undefined;
      resolve({ value: queue.shift() as LxdEvent, done: false });
    } else if (failure !== undefined) {
      waiting = failWaiting = undefined;
      reject?.(failure);
    } else if (ended) {
      waiting = failWaiting = undefined;
      resolve({ value: undefined, done: true });
    }
  };
  const end = (err?: unknown) => {
    if (ended) return;
    ended = true;
    if (err !== undefined) failure = err;
    socket?.close();
    opts.signal?.removeEventListener("abort", onAbort);
    settle();
  };
  const onAbort = () => end();

  // Listening starts as the socket opens: no event between the handshake and a caller's await is lost.
  const listen = (ws: WebSocket) => {
    socket = ws;
    if (ended) {
      ws.close();
      return;
    }
    ws.on("message", (data: Buffer) => {
      try {
        queue.push(JSON.parse(data.toString()) as LxdEvent);
      } catch {
        return; // not an event: LXD sends nothing else on this socket
      }
      settle();
    });
    ws.once("close", (code: number) => {
      // A close we did not ask for (the daemon stopped, or dropped us as too slow) is an error.
      end(
        ended
          ? undefined
          : new LxdError(0, `events stream closed by lxtd (${code})`, "GET /1.0/events"),
      );
    });
    ws.once("error", (err) => end(err));
  };
  const ready = transport.websocket(`/1.0/events${query}`, listen).then(
    () => {},
    (err: unknown) => {
      end(err);
      throw err;
    },
  );
  // `ready` may be ignored by a caller that only iterates: its failure reaches next() too.
  ready.catch(() => {});
  if (opts.signal?.aborted) end();
  else opts.signal?.addEventListener("abort", onAbort, { once: true });

  const stream: EventStream = {
    ready,
    close: () => end(),
    next() {
      return new Promise<IteratorResult<LxdEvent>>((resolve, reject) => {
        waiting = resolve;
        failWaiting = reject;
        settle();
      });
    },
    async return() {
      end();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}
