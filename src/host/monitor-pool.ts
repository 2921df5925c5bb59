/**
 * Monitors made ahead of demand (lxtd's pool): `lxt-shim pool` processes,
 * spawned and exec'd before any start needs one, each waiting for the one
 * line that makes it a container's monitor (docs/helper-protocol.md, _Pool_).
 * A start takes one instead of spawning (`spawnMonitor`), and the pool spawns
 * its replacement while that start waits for its verdict. A member that is
 * taken is the container's monitor, as one spawned then would be: detached,
 * its own session, it outlives the daemon. A member that is not ends when its
 * control pipe does (`close`, or the daemon's death) and has made nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Writable } from "node:stream";

/** The argument that makes room in a member's argv for its monitor title (`[lxt monitor] NAME`). */
export const POOL_TITLE_ROOM = "-".repeat(80);

/** A member that died this soon after its spawn, untaken, counts as a failed spawn. */
const EARLY_DEATH_MS = 1000;
/** Failed spawns in a row after which the pool stops refilling (starts spawn their own). */
const MAX_FAILURES = 3;

/** Monitors made ahead of demand; starts take one and spawn their own when none is ready. */
export interface MonitorPool {
  /** How many members the pool keeps ready. */
  readonly size: number;
  /**
   * A ready member, now the caller's, or undefined when none is (the pool is
   * refilled meanwhile). Send it `start PLANFILE\n` with `assignMonitor`.
   */
  take(): ChildProcess | undefined;
  /** Pids of the members ready now (for tests and the daemon's status). */
  pids(): number[];
  /**
   * Ends every untaken member and stops refilling; resolves once they have
   * exited, having made nothing.
   */
  close(): Promise<void>;
}

/** Makes `member` the monitor of the plan at `planFile` (its first and only request). */
export function assignMonitor(member: ChildProcess, planFile: string): void {
  const control = member.stdio[4] as Writable | null;
  // A member that died meanwhile is seen by the verdict's wait as an exit before reporting.
  control?.on("error", () => {});
  control?.end(`start ${planFile}\n`);
}

/**
 * A pool of `size` members of `helper` (resolved when the first is
 * spawned). Members are spawned at once and after each take or death.
 */
export function monitorPool(helper: () => string, size: number): MonitorPool {
  const ready: ChildProcess[] = [];
  let closed = false;
  let failures = 0;

  const spawnMember = () => {
    if (closed || ready.length >= size || failures >= MAX_FAILURES) return;
    let member: ChildProcess;
    try {
      member = spawn(helper(), ["pool", POOL_TITLE_ROOM], {
        stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"],
        detached: true,
      });
    } catch {
      failures++;
      return;
    }
    const born = Date.now();
    member.on("error", () => {});
    member.unref();
    ready.push(member);
    const died = () => {
      const i = ready.indexOf(member);
      if (i < 0) return;
      ready.splice(i, 1);
      member.stdio[3]?.destroy();
      member.stdio[4]?.destroy();
      if (Date.now() - born < EARLY_DEATH_MS) failures++;
      setImmediate(fill);
    };
    member.once("exit", died);
    member.once("error", died);
  };
  const fill = () => {
    while (!closed && ready.length < size && failures < MAX_FAILURES) {
      const before = ready.length;
      spawnMember();
      if (ready.length === before) break;
    }
  };

  fill();
  return {
    size,
    take() {
      while (ready.length > 0) {
        const member = ready.shift() as ChildProcess;
        member.removeAllListeners("exit");
        member.removeAllListeners("error");
        member.on("error", () => {});
        if (member.exitCode !== null || member.signalCode !== null) continue;
        failures = 0;
        setImmediate(fill);
        return member;
      }
      setImmediate(fill);
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
          m.stdio[4]?.destroy();
          m.stdio[3]?.destroy();
          return gone;
        }),
      ).then(() => {});
    },
  };
}
