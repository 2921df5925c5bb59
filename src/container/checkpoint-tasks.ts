/**
 * What a container's processes say about whether CRIU can dump them, asked
 * before anything is dumped (docs/checkpoint.md): each process under the
 * init is read from /proc (its namespaces, its ids), and a dump CRIU would
 * fail is refused with CRIU's own words.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** One process of a container as /proc shows it. */
export interface TaskFacts {
  pid: number;
  comm: string;
  /** `/proc/PID/ns/uts` and `ns/ipc` targets (`uts:[4026…]`). */
  uts: string;
  ipc: string;
  /** Real, effective, saved uids, then the same gids (host ids). */
  ids: number[];
}

function read(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function link(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return "";
  }
}

/** One process's facts, or undefined once it is gone. */
function taskFacts(pid: number): TaskFacts | undefined {
  const status = read(`/proc/${pid}/status`);
  if (!status) return undefined;
  const field = (k: string) =>
    (new RegExp(`^${k}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").split(/\s+/).slice(0, 3);
  return {
    pid,
    comm: read(`/proc/${pid}/comm`).trim(),
    uts: link(`/proc/${pid}/ns/uts`),
    ipc: link(`/proc/${pid}/ns/ipc`),
    ids: [...field("Uid"), ...field("Gid")].map(Number),
  };
}

/** The process tree under `init` (init first), as CRIU walks it: every thread's children. */
export function readTasks(init: number): TaskFacts[] {
  const out: TaskFacts[] = [];
  const seen = new Set<number>();
  const walk = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const t = taskFacts(pid);
    if (!t) return;
    out.push(t);
    let threads: string[] = [];
    try {
      threads = readdirSync(`/proc/${pid}/task`);
    } catch {}
    for (const tid of threads)
      for (const c of read(`/proc/${pid}/task/${tid}/children`).split(/\s+/))
        if (c) walk(Number(c));
  };
  walk(init);
  return out;
}

/** CAP_SYS_RESOURCE (capability 24) in a `/proc/PID/status` text's effective set. */
export function hasCapSysResource(status: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex !== undefined && (BigInt(`0x${hex}`) & (1n << 24n)) !== 0n;
}

/**
 * Why CRIU would fail to dump these processes (`tasks[0]` the init), or
 * undefined. `privileged`: they run in the host's user namespace, where
 * criu reads another uid's resource limits only with CAP_SYS_RESOURCE
 * (`canReadLimits`); in a user namespace lxt made, root outside holds every
 * capability. Pure.
 */
export function refuseTasks(
  tasks: readonly TaskFacts[],
  o: { privileged: boolean; canReadLimits: boolean },
): string | undefined {
  const init = tasks[0];
  if (!init) return undefined;
  const name = (t: TaskFacts) => `process ${t.pid} (${t.comm})`;
  for (const t of tasks) {
    // A zombie's namespace links cannot be read (""): it has none left to dump.
    if (t.uts && t.uts !== init.uts)
      return `its ${name(t)} runs in a UTS namespace of its own (systemd's ProtectHostname=yes): criu cannot dump a nested UTS namespace ("Can't dump nested uts namespace for ${t.pid}"); turn that off for its unit, as lxt's Debian images do (docs/checkpoint.md)`;
    if (t.ipc && t.ipc !== init.ipc)
      return `its ${name(t)} runs in an IPC namespace of its own (systemd's PrivateIPC=yes): criu cannot dump a nested IPC namespace; turn that off for its unit (docs/checkpoint.md)`;
  }
  if (o.privileged && !o.canReadLimits) {
    const t = tasks.find((x) => x.ids.some((id) => id !== 0));
    if (t)
      return `its ${name(t)} runs as uid/gid ${t.ids[1]}/${t.ids[4]}, and this host's root lacks CAP_SYS_RESOURCE: criu cannot read that process's resource limits ("Can't get rlimit 0: Operation not permitted"); here a privileged container is checkpointed only while all its processes run as root; an unprivileged one (the default) is not affected (docs/checkpoint.md)`;
  }
  return undefined;
}
