/**
 * Helpers made ahead of demand (lxtd's pool, `--helper-pool`): `lxt-shim`
 * processes spawned and exec'd before any verb needs one, each waiting for
 * the one line that gives it its work (docs/helper-protocol.md, _Pool_ and
 * _Lock_). A verb takes one instead of spawning, and the pool spawns its
 * replacement (see `RefillGate`).
 *
 * - monitors (`lxt-shim pool`): a start takes one (`spawnMonitor`); taken, it
 *   is the container's monitor as one spawned then would be: detached, its
 *   own session, it outlives the daemon;
 * - lock helpers (`lxt-shim lock -`): a lock taken through the context's
 *   door takes one (`takeLock`) and holds the lock as a spawned one would.
 *
 * A spawn blocks the daemon's event loop until the child has exec'd (a fork
 * of a large process, then the child's wait for a CPU: ~12 ms on a loaded
 * 2-core host), so a pool with a `RefillGate` refills only once no verb
 * holds a lock (the verb's answer written first), not in the middle of the
 * start whose take emptied it.
 *
 * A member that is not taken ends when its control pipe does (`close`, or
 * the daemon's death) and has made nothing.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import type { Writable } from "node:stream";
import { phase } from "../core/phase.js";

/** The argument that makes room in a pooled monitor's argv for its title (`[lxt monitor] NAME`). */
export const POOL_TITLE_ROOM = "-".repeat(80);

/** A member that died this soon after its spawn, untaken, counts as a failed spawn. */
const EARLY_DEATH_MS = 1000;
/** Failed spawns in a row after which the pool stops refilling (verbs spawn their own). */
const MAX_FAILURES = 3;

/** Helpers of one kind made ahead of demand. */
export interface HelperPool {
  /** How many members the pool keeps ready. */
  readonly size: number;
  /** A ready member, now the caller's, or undefined when none is (the pool is refilled meanwhile). */
  take(): ChildProcess | undefined;
  /** Pids of the members ready now. */
  pids(): number[];
  /**
   * Ends every untaken member and stops refilling; resolves once they have
   * exited, having made nothing.
   */
  close(): Promise<void>;
}

/**
 * Counts the verbs in flight (each from the request of its lock to the
 * lock's release) and runs the pools' refills once none is: on the next
 * turn after the last leaves, so that its answer has been written.
 */
export class RefillGate {
  private busy = 0;
  private readonly waiting = new Set<() => void>();

  enter(): void {
    this.busy++;
  }

  leave(): void {
    this.busy = Math.max(0, this.busy - 1);
    if (this.busy === 0 && this.waiting.size > 0) setImmediate(() => this.flush());
  }

  /** Runs `fn` on the next turn when no verb is in flight, else once the last one leaves. */
  whenQuiet(fn: () => void): void {
    this.waiting.add(fn);
    if (this.busy === 0) setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.busy > 0) return;
    const fns = [...this.waiting];
    this.waiting.clear();
    for (const fn of fns) fn();
  }
}

/** How one kind of member is spawned. */
interface MemberSpec {
  args: readonly string[];
  stdio: StdioOptions;
  detached: boolean;
  /** The fd of the member's control pipe: its end of file ends an untaken member. */
  control: number;
}

/** Makes a pooled monitor the monitor of the plan at `planFile` (its first and only request). */
export function assignMonitor(member: ChildProcess, planFile: string): void {
  const control = member.stdio[4] as Writable | null;
  // A member that died meanwhile is seen by the verdict's wait as an exit before reporting.
  control?.on("error", () => {});
  control?.end(`start ${planFile}\n`);
}

/** `size` monitors made ahead of demand (`lxt-shim pool`); refilled through `gate` when given. */
export function monitorPool(helper: () => string, size: number, gate?: RefillGate): HelperPool {
  return helperPool(helper, size, gate, {
    args: ["pool", POOL_TITLE_ROOM],
    stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"],
    detached: true,
    control: 4,
  });
}

/** `size` lock helpers made ahead of demand (`lxt-shim lock -`, the path sent on stdin). */
export function lockHelperPool(helper: () => string, size: number, gate?: RefillGate): HelperPool {
  return helperPool(helper, size, gate, {
    args: ["lock", "-"],
    stdio: ["pipe", "pipe", "pipe"],
    detached: false,
    control: 0,
  });
}

function helperPool(
  helper: () => string,
  size: number,
  gate: RefillGate | undefined,
  spec: MemberSpec,
): HelperPool {
  const ready: ChildProcess[] = [];
  let closed = false;
  let failures = 0;

  const endPipes = (m: ChildProcess) => {
    for (const s of m.stdio) s?.destroy();
  };
  const spawnMember = (): boolean => {
    let member: ChildProcess;
    try {
      member = spawn(helper(), [...spec.args], { stdio: spec.stdio, detached: spec.detached });
    } catch {
      failures++;
      return false;
    }
    const born = Date.now();
    member.unref();
    ready.push(member);
    const died = () => {
      const i = ready.indexOf(member);
      if (i < 0) return;
      ready.splice(i, 1);
      endPipes(member);
      if (Date.now() - born < EARLY_DEATH_MS) failures++;
      refill();
    };
    member.once("exit", died);
    member.once("error", died);
    return true;
  };
  const fill = () => {
    let n = 0;
    while (!closed && ready.length < size && failures < MAX_FAILURES) {
      if (!spawnMember()) break;
      n++;
    }
    if (n > 0) phase("pool refilled");
  };
  const refill = () => (gate ? gate.whenQuiet(fill) : setImmediate(fill));

  fill();
  return {
    size,
    take() {
      refill();
      while (ready.length > 0) {
        const member = ready.shift() as ChildProcess;
        member.removeAllListeners("exit");
        member.removeAllListeners("error");
        if (member.exitCode !== null || member.signalCode !== null) continue;
        failures = 0;
        // The caller's now, as a child it spawned: it keeps the process up while it waits on it.
        member.ref();
        return member;
      }
      return undefined;
    },
    pids: () => ready.flatMap((m) => (m.pid === undefined ? [] : [m.pid])),
    close() {
      closed = true;
      const members = ready.splice(0);
      return Promise.all(
        members.map((m) => {
          const gone =
            m.exitCode !== null || m.signalCode !== null
              ? Promise.resolve()
              : new Promise<void>((r) => m.once("exit", () => r()));
          // Waited for: its exit keeps the event loop up until it has come.
          m.ref();
          m.stdio[spec.control]?.destroy();
          endPipes(m);
          return gone;
        }),
      ).then(() => {});
    },
  };
}
