/**
 * Shared by the root integration tests: a temporary state root with unique
 * container names, a runner for the built `lxt` CLI, and a check that a
 * test left nothing behind on the host.
 */
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
import { runtimeRoot } from "../../src/container/paths.js";

export const REPO = resolve(import.meta.dirname, "../..");
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

  name(prefix = "t"): string {
    const n = `lxt${prefix}-${randomBytes(3).toString("hex")}`;
    this.made.push(n);
    return n;
  }

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
  ok(args: string[]): string {
    const r = this.lxt(args);
    if (r.code !== 0)
      throw new Error(`lxt ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  }

  /** Starts `lxt ARGS` without waiting (for kill-mid-start tests). */
  spawn(args: string[]) {
    return spawn(LXT, testArgs(args), {
      env: { ...process.env, LXT_PATH: this.lxcpath },
      stdio: "ignore",
    });
  }

  /** Stops and destroys every container this sandbox named, then removes the root. */
  cleanup(): void {
    for (const n of this.made) {
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

/** Everything on the host that looks like ours: the suite must end with all of it empty. */
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
    if (/lxt monitor|lxt-shim/.test(line) && !stat.startsWith("Z"))
      out.push(`process: ${line.trim()}`);
    if (/dnsmasq .*\/lxt\//.test(line) && !stat.startsWith("Z"))
      out.push(`process: ${line.trim()}`);
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

/** Runtime directories of containers under a state root that still exist. */
export function runtimeLeftovers(lxcpath: string): string[] {
  const root = runtimeRoot(lxcpath);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((e) => e !== "locks")
    .map((e) => join(root, e));
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
