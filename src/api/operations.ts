/**
 * LXD's background operations. A handler that answers `async` creates one,
 * the work runs in the daemon, and each change of state is announced on the
 * events stream (`operation` events): the stock client waits for the event
 * carrying the final state, others poll `GET /1.0/operations/ID` or wait on
 * `/wait`. Finished operations are kept `RETAIN_MS` for late readers.
 */
import { randomUUID } from "node:crypto";
import { phase } from "../core/phase.js";
import { errorOf } from "./envelope.js";
import type { EventHub } from "./events.js";
import type { OperationStore } from "./operation-store.js";
import { type OperationClass, type OperationJson, STATUS, type StatusName } from "./types.js";

export type { OperationClass, OperationJson, StatusName } from "./types.js";
export { STATUS } from "./types.js";

/** How long a finished operation stays readable. */
export const RETAIN_MS = 5 * 60_000;

export interface OperationSpec {
  class?: OperationClass;
  description: string;
  resources?: Record<string, string[]>;
  metadata?: Record<string, unknown>;
  /** The work. What it resolves with is merged into the metadata; a throw fails the operation with its message. */
  run(op: Operation): Promise<unknown>;
  /** Whether `DELETE /1.0/operations/ID` may cancel it (its `signal` then aborts). */
  mayCancel?: boolean;
  /**
   * A `websocket` operation's connections (`GET /1.0/operations/ID/websocket?secret=S`):
   * takes the socket when the secret is one of its own, else false (the client gets 403).
   */
  connect?(secret: string, ws: import("ws").WebSocket): boolean;
  /**
   * Start `run` before `start` returns instead of on the next turn: its first
   * synchronous steps (an exec handed to the attach server) then overlap the
   * 202's write and the client's wait, and the 202 shows it `Running` (as
   * LXD's does). For work that may run before its operation is announced.
   */
  startNow?: boolean;
}

const FINAL: ReadonlySet<StatusName> = new Set(["Success", "Failure", "Cancelled"]);

export class Operation {
  readonly id: string;
  readonly created: number;
  updated: number;
  status: StatusName = "Pending";
  err = "";
  metadata: Record<string, unknown> | null;
  readonly controller = new AbortController();
  /** Resolves when the operation reaches a final state. */
  readonly done: Promise<void>;
  private finish!: () => void;

  constructor(
    private readonly ops: Operations,
    readonly spec: OperationSpec,
    record?: OperationJson,
  ) {
    this.id = record?.id ?? randomUUID();
    this.created = record ? Date.parse(record.created_at) : ops.now();
    this.updated = this.created;
    this.metadata = record?.metadata ?? spec.metadata ?? null;
    this.done = new Promise((r) => {
      this.finish = r;
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get url(): string {
    return `/1.0/operations/${this.id}`;
  }

  get final(): boolean {
    return FINAL.has(this.status);
  }

  json(): OperationJson {
    return {
      id: this.id,
      class: this.spec.class ?? "task",
      description: this.spec.description,
      created_at: new Date(this.created).toISOString(),
      updated_at: new Date(this.updated).toISOString(),
      status: this.status,
      status_code: STATUS[this.status],
      resources: this.spec.resources ?? null,
      metadata: this.metadata,
      may_cancel: !!this.spec.mayCancel && !this.final,
      err: this.err,
      location: this.ops.location,
    };
  }

  /** Merges into the metadata and announces the change. */
  update(metadata: Record<string, unknown>): void {
    this.metadata = { ...(this.metadata ?? {}), ...metadata };
    this.changed();
  }

  setStatus(status: StatusName, err = ""): void {
    if (this.final) return;
    this.status = status;
    this.err = err;
    this.changed();
    if (this.final) {
      this.finish();
      this.ops.retire(this);
    }
  }

  private changed(): void {
    this.updated = this.ops.now();
    const json = this.json();
    this.ops.store?.write(json);
    this.ops.events.emit("operation", json);
  }
}

export class Operations {
  private readonly live = new Map<string, Operation>();

  constructor(
    readonly events: EventHub,
    readonly location = "none",
    readonly now: () => number = Date.now,
    /** Where each operation's record is kept, so that a restarted daemon knows what died with it. */
    readonly store?: OperationStore,
  ) {}

  /**
   * Creates the operation and starts its work on the next turn (after the
   * response names it), or at once with `spec.startNow`.
   */
  start(spec: OperationSpec): Operation {
    const op = new Operation(this, spec);
    this.live.set(op.id, op);
    const json = op.json();
    this.store?.write(json);
    this.events.emit("operation", json);
    if (spec.startNow) void this.run(op);
    else
      setImmediate(() => {
        void this.run(op);
      });
    return op;
  }

  private async run(op: Operation): Promise<void> {
    if (op.signal.aborted) {
      op.setStatus("Cancelled", "operation cancelled");
      return;
    }
    op.setStatus("Running");
    phase("api: operation running");
    try {
      const result = await op.spec.run(op);
      phase("api: operation work done");
      if (result && typeof result === "object" && !Array.isArray(result))
        op.metadata = { ...(op.metadata ?? {}), ...(result as Record<string, unknown>) };
      op.setStatus(op.signal.aborted ? "Cancelled" : "Success");
    } catch (err) {
      if (op.signal.aborted) op.setStatus("Cancelled", errorOf(err).message);
      else op.setStatus("Failure", errorOf(err).message);
    }
  }

  get(id: string): Operation | undefined {
    return this.live.get(id);
  }

  list(): Operation[] {
    return [...this.live.values()];
  }

  /** Cancels a cancellable operation; false when it may not be. */
  cancel(op: Operation): boolean {
    if (!op.spec.mayCancel || op.final) return false;
    op.setStatus("Cancelling");
    op.controller.abort(new Error("operation cancelled"));
    return true;
  }

  retire(op: Operation, ms = RETAIN_MS): void {
    const t = setTimeout(() => {
      this.live.delete(op.id);
      this.store?.remove(op.id);
    }, ms);
    t.unref();
  }

  /**
   * Takes back the records a previous daemon left: what had not finished
   * died with it and is shown as `Failure` with `why`; finished ones stay
   * readable for the rest of `RETAIN_MS`. Call once, holding the daemon's
   * lock, before serving. Returns the operations marked failed.
   */
  recover(why: string): Operation[] {
    const failed: Operation[] = [];
    for (const rec of this.store?.readAll() ?? []) {
      const op = new Operation(
        this,
        {
          class: rec.class,
          description: rec.description,
          resources: rec.resources ?? undefined,
          run: async () => undefined,
        },
        rec,
      );
      op.status = rec.status;
      op.err = rec.err;
      op.updated = Date.parse(rec.updated_at);
      this.live.set(op.id, op);
      if (!op.final) {
        op.setStatus("Failure", why);
        failed.push(op);
      } else {
        this.retire(op, Math.max(0, op.updated + RETAIN_MS - this.now()));
      }
    }
    return failed;
  }

  /** Cancels what may be cancelled and waits (up to `ms`) for every operation to end. */
  async drain(ms: number): Promise<void> {
    for (const op of this.live.values()) this.cancel(op);
    const pending = [...this.live.values()].filter((o) => !o.final).map((o) => o.done);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(pending),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
    clearTimeout(timer);
  }
}
