/**
 * The events stream LXD clients listen on (`GET /1.0/events`): operation,
 * lifecycle and logging events, fanned out to every subscriber whose types
 * include the event's. A subscriber that cannot keep up (its socket's
 * buffer past `MAX_BUFFERED`) is dropped rather than let grow the daemon.
 */

import { EVENT_TYPES, type EventType, type LxdEvent } from "./types.js";

export type { EventType, LxdEvent } from "./types.js";
export { EVENT_TYPES } from "./types.js";

export interface Subscriber {
  types: ReadonlySet<EventType>;
  /** Sends one event; false when the subscriber is gone or too slow (it is then dropped). */
  send(event: LxdEvent): boolean;
}

/** Bytes a subscriber may have queued before it is dropped. */
export const MAX_BUFFERED = 4 * 1024 * 1024;

export class EventHub {
  private readonly subs = new Set<Subscriber>();

  constructor(
    private readonly location = "none",
    private readonly now: () => number = Date.now,
  ) {}

  subscribe(sub: Subscriber): () => void {
    this.subs.add(sub);
    return () => {
      this.subs.delete(sub);
    };
  }

  get size(): number {
    return this.subs.size;
  }

  emit(type: EventType, metadata: unknown, project = "default"): void {
    const event: LxdEvent = {
      type,
      timestamp: new Date(this.now()).toISOString(),
      metadata,
      location: this.location,
      project,
    };
    for (const sub of [...this.subs]) {
      if (!sub.types.has(type)) continue;
      if (!sub.send(event)) this.subs.delete(sub);
    }
  }

  /** A lifecycle event (`instance-started`, ...) for a resource URL. */
  lifecycle(action: string, source: string, context: Record<string, unknown> = {}): void {
    this.emit("lifecycle", { action, source, context, requestor: null });
  }

  /** A logging event, as `lxc monitor --type=logging` shows them. */
  log(
    level: "debug" | "info" | "warning" | "error",
    message: string,
    context: Record<string, string> = {},
  ): void {
    this.emit("logging", { message, level, context });
  }
}

/** Parses `?type=operation,lifecycle`; no value means every type. */
export function parseEventTypes(value: string | undefined): Set<EventType> {
  if (!value) return new Set(EVENT_TYPES);
  const out = new Set<EventType>();
  for (const t of value.split(",")) {
    const v = t.trim();
    if (!v) continue;
    if (!(EVENT_TYPES as readonly string[]).includes(v)) {
      throw new Error(`"${v}" isn't a supported event type`);
    }
    out.add(v as EventType);
  }
  return out;
}
