/**
 * Shared by the root integration tests: a temporary state root with unique
 * container names, a runner for the built `lxt` CLI, a network namespace of
 * a test's own for tests of networking, and a check that a test left nothing
 * behind on the host.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DEFAULT_RUNDIR } from "../../src/container/paths.js";
import { runtimeRoot as runtimeRootIn } from "../../src/core/context.js";

export const REPO = resolve(import.meta.dirname, "../..");

/** The runtime files of state root `lxcpath`, where the lxt the tests run keeps them. */
export function runtimeRoot(lxcpath: string): string {
  return runtimeRootIn(process.env.LXT_RUNDIR || DEFAULT_RUNDIR, lxcpath);
}
export const LXT = join(REPO, "bin", "lxt");

// Every lxt the suite runs inherits this: a managed network may be made only
// inside a namespace of the test's own, never in the host's (src/network/manage.ts).
process.env.LXT_NO_HOST_NETWORK = "1";

/** Why root integration tests cannot run here, or undefined when they can. */
export function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "SKIP: needs root";
  if (!existsSync(join(REPO, "dist", "lxt.cjs"))) return "SKIP: lxt not built (npm run build)";
  if (!existsSync(join(REPO, "native", "build", "lxt-shim")))
    return "SKIP: helper not built (npm run build)";
  if (!existsSync("/bin/busybox"))
    return "SKIP: no static busybox (apt-get install busybox-static)";
  return undefined;
}

/**
 * Why CRIU cannot be used by a checkpoint test here (older than MAJOR.MINOR,
 * or `criu check` fails), as a `SKIP:` line, or undefined.
 */
export function criuSkip(min: readonly [number, number] = [4, 1]): string | undefined {
  try {
    const v = execFileSync("criu", ["--version"], { encoding: "utf8" });
    const m = /Version:\s*(\d+)\.(\d+)/.exec(v);
    if (!m || Number(m[1]) * 100 + Number(m[2]) < min[0] * 100 + min[1])
      return `SKIP: criu older than ${min.join(".")} (scripts/criu.sh installs a newer one)`;
    execFileSync("criu", ["check"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "SKIP: no working criu (scripts/criu.sh installs it)";
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `create`/`launch` with `--network empty` unless the test names a network:
 * a new container's default NIC (a veth on lxtbr0) would create the default
 * network in the host's namespace. Tests of networking run `lxt` inside
 * their own network namespace and pass `--network` themselves.
 */
export function testArgs(args: readonly string[]): string[] {
  const [verb, ...rest] = args;
  const named = rest.some((a) => a === "--network" || a.startsWith("--network=") || a === "--net");
  const creates =
    verb === "launch" ||
    (verb === "create" && rest.some((a) => a === "-t" || a.startsWith("--template")));
  return creates && !named ? [verb ?? "", "--network", "empty", ...rest] : [...args];
}

/** A temporary state root; `name()` gives unique container names. */
export class Sandbox {
  readonly lxcpath: string;
  private readonly made: string[] = [];
  private readonly ownRoot: boolean;

  /** `lxcpath`: use this existing state root (e.g. a test's own mount), emptied but kept by cleanup. */
  constructor(lxcpath?: string) {
    this.ownRoot = !lxcpath;
    this.lxcpath = lxcpath ?? mkdtempSync(join(tmpdir(), "lxt-test-"));
  }

  readonly name = (prefix = "t"): string => {
    const n = `lxt${prefix}-${randomBytes(3).toString("hex")}`;
    this.made.push(n);
    return n;
  };

  /** Runs `lxt ARGS -P <root>` synchronously. */
  lxt(args: string[], opts: { input?: string; timeoutMs?: number } = {}): RunResult {
    const r = spawnSync(LXT, testArgs(args), {
      env: { ...process.env, LXT_PATH: this.lxcpath },
      input: opts.input ?? "",
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 60_000,
    });
    return {
      code: r.status ?? (r.signal ? 128 : -1),
      stdout: r.stdout ?? "",
      stderr: r.stderr ?? "",
    };
  }

  /** Like `lxt` but throws with the output when the exit code is not 0. */
  readonly ok = (args: string[]): string => {
    const r = this.lxt(args);
    if (r.code !== 0)
      throw new Error(`lxt ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };

  /** Starts `lxt ARGS` without waiting (for kill-mid-start tests). */
  spawn(args: string[]) {
    return spawn(LXT, testArgs(args), {
      env: { ...process.env, LXT_PATH: this.lxcpath },
      stdio: "ignore",
    });
  }

  /**
   * Stops and destroys every container this sandbox named (and, in a root of
   * its own, every container there: a daemon or a move may have made some
   * under names it never saw), then removes the root.
   */
  cleanup(): void {
    const found =
      this.ownRoot && existsSync(this.lxcpath)
        ? readdirSync(this.lxcpath).filter((n) => existsSync(join(this.lxcpath, n, "config")))
        : [];
    for (const n of new Set([...this.made, ...found])) {
      if (existsSync(join(this.lxcpath, n))) this.lxt(["destroy", "-f", "-n", n]);
    }
    // Managed networks (a start may create the default one): bridge, nft table, dnsmasq.
    const nets = join(this.lxcpath, ".networks");
    for (const f of existsSync(nets) ? readdirSync(nets) : []) {
      if (f.endsWith(".json")) this.lxt(["network", "delete", f.slice(0, -5)]);
    }
    if (this.ownRoot) rmSync(this.lxcpath, { recursive: true, force: true });
    rmSync(runtimeRoot(this.lxcpath), { recursive: true, force: true });
  }
}

/**
 * Everything on the host that looks like ours and names `filter` (a state
 * root, a container's name): mounts, cgroups, lxt's processes (a monitor's
 * title and a lock helper's arguments name the container), links, network
 * namespaces, nft tables. The suite must end with all of it empty.
 */
export function hostLeftovers(filter = "lxt"): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (line.includes(filter)) out.push(`mount: ${line}`);
  }
  const walk = (dir: string, depth: number) => {
    if (depth > 7) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      if (e.includes(filter)) out.push(`cgroup: ${p}`);
      else walk(p, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  // Zombies are skipped: they have exited and hold nothing but a pid. A
  // monitor outlives the CLI that spawned it, so when it ends it is reaped by
  // PID 1, and some sandboxes' PID 1 (e.g. firecracker's process_api) reaps late.
  const ps = execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" });
  for (const line of ps.split("\n")) {
    const [, stat = ""] = line.trim().split(/\s+/);
    const ours = /lxt monitor|lxt-shim|lxtd\.cjs/.test(line) || /dnsmasq .*\/lxt\//.test(line);
    if (ours && line.includes(filter) && !stat.startsWith("Z")) out.push(`process: ${line.trim()}`);
  }
  // Links (bridges, veth ends lxtv*/lxtp*), network namespaces and nft tables of ours.
  for (const line of execFileSync("ip", ["-o", "link"], { encoding: "utf8" }).split("\n")) {
    const name = line.split(":")[1]?.trim().split("@")[0] ?? "";
    if (name.includes(filter)) out.push(`link: ${name}`);
  }
  for (const ns of execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).split("\n")) {
    if (ns.includes(filter)) out.push(`netns: ${ns}`);
  }
  if (hasCmd("nft")) {
    for (const t of execFileSync("nft", ["list", "tables"], { encoding: "utf8" }).split("\n")) {
      if (t.includes(filter)) out.push(`nft: ${t}`);
    }
  }
  return out;
}

/**
 * The host's directories of the cgroups process `pid` is in, in every
 * mounted hierarchy, from /proc/PID/cgroup and the host's cgroup mounts.
 */
export function cgroupDirsOf(pid: number): string[] {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => {
      const [pre = "", post = ""] = l.split(" - ");
      const [fstype, , opts = ""] = post.split(" ");
      return { point: pre.split(" ")[4] ?? "", fstype, opts: opts.split(",") };
    });
  const dirs: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/cgroup`, "utf8").trim().split("\n")) {
    const [id, ctrls = "", path = ""] = line.split(":");
    const m =
      id === "0"
        ? mounts.find((x) => x.fstype === "cgroup2")
        : mounts.find(
            (x) => x.fstype === "cgroup" && ctrls.split(",").every((c) => x.opts.includes(c)),
          );
    if (m) dirs.push(join(m.point, path));
  }
  return dirs;
}

/** Runtime directories of containers under a state root that still exist. */
export function runtimeLeftovers(lxcpath: string): string[] {
  const root = runtimeRoot(lxcpath);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((e) => e !== "locks")
    .map((e) => join(root, e));
}

/** The pid of a running container's monitor (from its runtime directory). */
export function monitorPid(lxcpath: string, name: string): number {
  return Number(readFileSync(join(runtimeRoot(lxcpath), name, "monitor"), "utf8").split(" ")[0]);
}

/** Whether process `pid` exists and has not ended (a zombie has). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/**
 * `lxt attach` arguments running busybox's DHCP client once on container
 * `c`'s eth0 (5 tries, then exit), with event script `script` (`/bin/true`
 * leaves the configured address alone; the template's default script sets
 * the lease's).
 */
export function udhcpcOnce(c: string, script = "/bin/true"): string[] {
  return ["attach", "-n", c, "--", "udhcpc", "-q", "-n", "-t", "5", "-i", "eth0", "-s", script];
}

/** Polls until `cond` holds or `ms` pass. */
export async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

/** Resolves once `child` has printed `text` on stdout; rejects if it exits first. */
export function printed(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes(text)) {
        child.stdout?.off("data", onData);
        child.off("exit", onExit);
        resolve();
      }
    };
    const onExit = (code: number | null, signal: string | null) =>
      reject(new Error(`exited (${signal ?? code}) before printing ${text}: ${out}`));
    child.stdout?.on("data", onData);
    child.once("exit", onExit);
  });
}

/** Resolves with a child's exit code, or its signal's name, when it ends. */
export function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve(child.exitCode ?? child.signalCode ?? "");
    else child.once("exit", (code, signal) => resolve(code ?? signal ?? ""));
  });
}

/** Resolves with a child's exit code, or kills it and resolves with "timeout" after `ms`. */
export function exitWithin(child: ChildProcess, ms: number): Promise<number | string> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      resolve("timeout");
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve(code ?? "signal");
    });
  });
}

/** Whether `cmd` is on PATH. */
export function hasCmd(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}
/** Whether the running kernel lists `fs` in /proc/filesystems. */
export function kernelFs(fs: string): boolean {
  return readFileSync("/proc/filesystems", "utf8")
    .split("\n")
    .some((l) => l.split("\t")[1] === fs);
}

/** A btrfs filesystem on a loop device, mounted under a temp dir; `close` undoes all of it. */
export class BtrfsLoop {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-btrfs-"));
  readonly mnt = join(this.dir, "mnt");
  dev = "";
  mounted = false;

  /** `size`: of the sparse image (`truncate -s`), 320M unless a test needs more. */
  open(size = "320M"): void {
    const img = join(this.dir, "lxt.img");
    // Searchable, as a state root's parents must be for unprivileged containers (docs/security.md).
    chmodSync(this.dir, 0o711);
    execFileSync("truncate", ["-s", size, img]);
    this.dev = execFileSync("losetup", ["--find", "--show", img], { encoding: "utf8" }).trim();
    execFileSync("mkfs.btrfs", ["-q", this.dev]);
    mkdirSync(this.mnt);
    execFileSync("mount", ["-t", "btrfs", this.dev, this.mnt]);
    this.mounted = true;
  }

  close(): void {
    if (this.mounted) {
      for (let i = 0; i < 50; i++) {
        if (spawnSync("umount", [this.mnt]).status === 0) break;
        spawnSync("sleep", ["0.1"]);
      }
      this.mounted = false;
    }
    if (this.dev) spawnSync("losetup", ["-d", this.dev]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A sandbox for a storage backend's tests: for btrfs its state root is a
 * fresh loop-mounted btrfs (closed again if setting it up fails).
 */
export function backendSandbox(backend: string): { box: Sandbox; loop?: BtrfsLoop } {
  if (backend !== "btrfs") return { box: new Sandbox() };
  const loop = new BtrfsLoop();
  try {
    loop.open();
  } catch (err) {
    loop.close();
    throw err;
  }
  return { box: new Sandbox(loop.mnt), loop };
}

/** Why btrfs-on-a-loop tests cannot run here, or undefined. */
export function btrfsSkip(): string | undefined {
  if (!kernelFs("btrfs") && !existsSync("/sys/module/btrfs"))
    return "SKIP: no btrfs in this kernel";
  if (!hasCmd("mkfs.btrfs") || !hasCmd("losetup"))
    return "SKIP: no btrfs-progs/losetup (scripts/setup.sh installs them)";
  return undefined;
}

/** major:minor of the block device holding the host's `/` (dev_t as glibc's gnu_dev_major/minor). */
export function hostDisk(): { major: number; minor: number } {
  const dev = statSync("/").dev;
  const major = (dev >> 8) & 0xfff;
  if (major !== 0) return { major, minor: (dev & 0xff) | ((dev >> 12) & 0xfff00) };
  // `/` on an overlay or tmpfs (anonymous device 0:N): the host's first disk instead.
  const first = readFileSync("/proc/partitions", "utf8").split("\n")[2]?.trim().split(/\s+/);
  return { major: Number(first?.[0]), minor: Number(first?.[1]) };
}

/** The host tools a test of managed networks needs. */
export const NET_TOOLS = ["nft", "dnsmasq", "ip", "nsenter"] as const;

/** Why a test inside its own network namespace cannot run here (one of `tools` missing), or undefined. */
export function netnsSkip(tools: readonly string[] = NET_TOOLS): string | undefined {
  const missing = tools.filter((t) => !hasCmd(t));
  if (missing.length === 0) return undefined;
  const list = tools.length > 1 ? `${tools.slice(0, -1).join(", ")} and ${tools.at(-1)}` : tools[0];
  return `SKIP: needs ${list}, missing ${missing.join(", ")} (scripts/setup.sh installs them)`;
}

/**
 * A network namespace of the test's own (`lxt-PREFIX-TAG`, lo up) with a
 * state root: `lxt` runs under `nsenter --net`, so bridges, veths, nft tables
 * and dnsmasq exist only there and traffic stays between what the test made.
 * Runs `lxt` as given (no `--network empty` added: tests of networking name
 * their networks or want the default one). `dispose` stops and destroys the
 * containers it named, deletes inside the namespace every managed network
 * recorded under the state root, then deletes its namespaces, which take the
 * rest (links, nft tables) with them. Its helpers are bound (arrow
 * properties), so a test may destructure them.
 */
export class NetnsSandbox {
  /** Unique per sandbox: in namespace, network and link names. */
  readonly tag = randomBytes(3).toString("hex");
  readonly ns: string;
  readonly box: Sandbox;
  private readonly ownBox: boolean;
  private readonly spaces: string[] = [];
  private readonly made: string[] = [];
  private readonly timeoutMs: number;

  /** `box`: share that sandbox's state root (its own `cleanup` stays the caller's). */
  constructor(prefix: string, opts: { box?: Sandbox; timeoutMs?: number } = {}) {
    this.ns = `lxt-${prefix}-${this.tag}`;
    this.ownBox = !opts.box;
    this.box = opts.box ?? new Sandbox();
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Creates the namespace (and loopback up); call in `before`, after the skip check. */
  open(): void {
    this.addNamespace(this.ns);
  }

  /** Another namespace (`lxt-PREFIX-TAG`, lo up), e.g. a client host; deleted by `dispose`. */
  namespace(prefix: string): string {
    return this.addNamespace(`lxt-${prefix}-${this.tag}`);
  }

  private addNamespace(name: string): string {
    execFileSync("ip", ["netns", "add", name]);
    this.spaces.push(name);
    this.nsOk(["ip", "link", "set", "lo", "up"], name);
    return name;
  }

  get lxcpath(): string {
    return this.box.lxcpath;
  }

  /** A unique container name, stopped and destroyed by `dispose`. */
  readonly name = (prefix = "t"): string => {
    const n = this.box.name(prefix);
    this.made.push(n);
    return n;
  };

  /** A unique network or link name: `lxtPREFIXTAG`. */
  readonly network = (prefix: string): string => `lxt${prefix}${this.tag}`;

  /** Runs `lxt ARGS` in the namespace on this state root; `env` adds to the environment. */
  readonly lxt = (args: string[], env: NodeJS.ProcessEnv = {}): RunResult => {
    const r = spawnSync("nsenter", [`--net=/run/netns/${this.ns}`, LXT, ...args], {
      env: { ...process.env, LXT_PATH: this.lxcpath, ...env },
      encoding: "utf8",
      timeout: this.timeoutMs,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };

  /** Like `lxt`, asserting exit 0 (the message holds the output); returns stdout. */
  readonly ok = (args: string[]): string => {
    const r = this.lxt(args);
    assert.equal(r.code, 0, `lxt ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };

  /** Like `lxt`, without waiting: for commands that must run at the same time. */
  readonly run = (args: string[]): Promise<RunResult> =>
    new Promise((resolve) => {
      const child = spawn("nsenter", [`--net=/run/netns/${this.ns}`, LXT, ...args], {
        env: { ...process.env, LXT_PATH: this.lxcpath },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b) => {
        stdout += b;
      });
      child.stderr.on("data", (b) => {
        stderr += b;
      });
      child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  /** Runs ARGV in namespace `ns` (default the sandbox's), with `input` on stdin. */
  readonly inNs = (argv: string[], opts: { ns?: string; input?: string } = {}): RunResult => {
    const r = spawnSync("nsenter", [`--net=/run/netns/${opts.ns ?? this.ns}`, ...argv], {
      encoding: "utf8",
      timeout: 60_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  };

  /** Like `inNs`, asserting exit 0; returns stdout. */
  readonly nsOk = (argv: string[], ns = this.ns): string => {
    const r = this.inNs(argv, { ns });
    assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  /** The names of the links in namespace `ns`, sorted. */
  readonly links = (ns = this.ns): string[] =>
    this.inNs(["ip", "-o", "link"], { ns })
      .stdout.split("\n")
      .map((l) => l.split(":")[1]?.trim().split("@")[0] ?? "")
      .filter(Boolean)
      .sort();

  /** Undoes everything, never touching the host's namespace; safe to call when `open` failed. */
  dispose(): void {
    if (this.spaces.length > 0) {
      for (const n of this.made) this.lxt(["stop", "-k", "-n", n]);
      for (const n of this.made) this.lxt(["destroy", "-f", "-n", n]);
      const records = join(this.lxcpath, ".networks");
      const running = join(runtimeRoot(this.lxcpath), ".networks");
      const ls = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
      const recorded = ls(records)
        .filter((f) => f.endsWith(".json"))
        .map((f) => f.slice(0, -5));
      for (const n of recorded) this.lxt(["network", "delete", n]);
      // What a failed delete left must not be "deleted" again by the sandbox's
      // cleanup in the host's namespace: its dnsmasq goes by pid, its record here.
      for (const n of new Set([...recorded, ...ls(running)])) {
        try {
          process.kill(Number(readFileSync(join(running, n, "dnsmasq.pid"), "utf8")), "SIGTERM");
        } catch {}
        rmSync(join(records, `${n}.json`), { force: true });
      }
    }
    if (this.ownBox) this.box.cleanup();
    // The namespaces take every link and nft table of the test with them.
    for (const ns of this.spaces.splice(0)) spawnSync("ip", ["netns", "del", ns]);
  }
}

/** Container `c`'s eth0 as seen inside, through `ok` (an `lxt` runner asserting success): MAC and IPv4 address (CIDR). */
export function eth0Of(ok: (args: string[]) => string, c: string): { mac: string; addr: string } {
  const link = ok(["attach", "-n", c, "--", "ip", "-o", "link", "show", "eth0"]);
  const addr = ok(["attach", "-n", c, "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
  return {
    mac: /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1] ?? "",
    addr: /inet (\S+)/.exec(addr)?.[1] ?? "",
  };
}
