/**
 * A context for unit tests: fake doors that record what the core asks of
 * the machine, and fail loudly where a test did not expect the core to go.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Caches } from "../../../src/core/cache.js";
import type { Caller, Context, HostDoors, HostSettings } from "../../../src/core/context.js";
import type { CgroupFs } from "../../../src/host/cgroup-fs.js";
import { RecordingRunner } from "../../../src/host/runner.js";
import type { HeldLock } from "../../../src/host/shim.js";

function refuse(what: string): never {
  throw new Error(`unit test: the core reached ${what}, which this test did not give it`);
}

const noCgroupFs: CgroupFs = {
  readFile: (p) => refuse(`cgroup fs (read ${p})`),
  writeFile: (p) => refuse(`cgroup fs (write ${p})`),
  mkdir: (p) => refuse(`cgroup fs (mkdir ${p})`),
  rmdir: (p) => refuse(`cgroup fs (rmdir ${p})`),
  readdir: (p) => refuse(`cgroup fs (readdir ${p})`),
  exists: () => false,
};

/** Locks held in this process only (the files made as the helper makes them): who holds what. */
export class FakeLocks {
  readonly held = new Set<string>();
  readonly taken: string[] = [];

  lock = async (path: string): Promise<HeldLock> => {
    if (this.held.has(path)) throw new Error(`unit test: ${path} locked twice (a deadlock)`);
    return this.hold(path);
  };

  tryLock = async (path: string): Promise<HeldLock | undefined> =>
    this.held.has(path) ? undefined : this.hold(path);

  private hold(path: string): HeldLock {
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) writeFileSync(path, "", { mode: 0o600 });
    this.held.add(path);
    this.taken.push(path);
    return {
      release: async () => {
        this.held.delete(path);
      },
    };
  }
}

export interface TestContextOptions {
  lxcpath?: string;
  runDir?: string;
  pid?: number;
  host?: Partial<HostDoors>;
  settings?: Partial<HostSettings>;
}

/** A context whose doors are fakes unless `o.host` gives real ones. */
export function testContext(o: TestContextOptions = {}): Context & { locks: FakeLocks } {
  const locks = new FakeLocks();
  let now = 1_700_000_000_000;
  return {
    lxcpath: o.lxcpath ?? "/nonexistent/lxt",
    runDir: o.runDir ?? "/nonexistent/run",
    pid: o.pid ?? 4242,
    host: {
      cgroupFs: noCgroupFs,
      kill: (pid) => refuse(`kill ${pid}`),
      run: new RecordingRunner(),
      helper: "/nonexistent/lxt-shim",
      limits: { memTotal: 8 * 1024 ** 3, deviceNumber: (p) => refuse(`device ${p}`) },
      facts: {
        apparmor: () => ({ enabled: false, mountFeature: false, why: "not in unit tests" }),
        lxcfs: () => undefined,
        systemd: () => false,
        selinux: () => false,
      },
      clock: {
        now: () => now,
        sleep: async (ms) => {
          now += ms;
        },
      },
      lock: locks.lock,
      tryLock: locks.tryLock,
      hold: () => refuse("a hold process"),
      ...o.host,
    },
    settings: {
      subuidFile: "/nonexistent/subuid",
      subgidFile: "/nonexistent/subgid",
      imageCache: "/nonexistent/images",
      noHostNetwork: true,
      hostEnv: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      ...o.settings,
    },
    caches: new Caches(),
    locks,
  };
}

/** A caller with the given environment, in cgroup of pid 4242. */
export function testCaller(env: Record<string, string> = {}): Caller {
  return { env, cgroupPid: 4242 };
}
