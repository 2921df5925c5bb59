/**
 * CRIU's lazy pages (post-copy) on this host, below lxt (docs/migrate.md):
 * a bare process tree in a PID namespace of its own, holding 64 MiB, is
 * dumped with `criu dump --lazy-pages` serving its memory on loopback, and
 * restored from a copy of the images by `criu restore --lazy-pages`, its
 * page faults served by `criu lazy-pages --page-server`. It used to fail on
 * the first page request ("page-pipe: splice: -1: Bad file descriptor")
 * where criu runs without CAP_SYS_RESOURCE and fs.pipe-max-size is below
 * criu's 4 MiB pipe: setup raises it, and this shows the transfer works.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { hasCapSysResource } from "../../src/container/checkpoint-tasks.js";
import { lazyServerProblem } from "../../src/container/criu.js";
import { alive, criuSkip, until } from "./harness.js";

const MIB = 64;

function lazySkip(): string | undefined {
  if (process.getuid?.() !== 0) return "SKIP: needs root";
  const criu = criuSkip([4, 2]);
  if (criu) return criu;
  const pipeMax = Number(readFileSync("/proc/sys/fs/pipe-max-size", "utf8"));
  const problem = lazyServerProblem(
    pipeMax,
    hasCapSysResource(readFileSync("/proc/self/status", "utf8")),
  );
  return problem ? `SKIP: ${problem}` : undefined;
}

const skip = lazySkip();
if (skip) console.log(skip);

/** A TCP port free on loopback now (criu's page server takes no `--port 0`). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** The child's exit code, once it has exited. */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** `N LENGTH` from the counter file, or undefined while it is being written. */
function counter(dir: string): { n: number; length: number } | undefined {
  const m = /^(\d+) (\d+)\n$/.exec(readLog(join(dir, "count")));
  return m ? { n: Number(m[1]), length: Number(m[2]) } : undefined;
}

describe("criu lazy pages on loopback (a bare process tree)", { skip }, () => {
  const dir = mkdtempSync("/tmp/lxt-test-lazy-");
  const children: ChildProcess[] = [];
  const pids: number[] = [];
  after(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test(`a tree holding ${MIB} MiB restored with its pages served lazily: it goes on, memory intact`, async () => {
    // bash holds a string of MIB MiB and, every 50 ms, writes a count and the
    // string's length (read through every page, so each must come back).
    const script = `x=$(head -c ${MIB * 1024 * 1024} /dev/zero | tr '\\0' x); n=0; while :; do echo "$n \${#x}" > ${dir}/count; n=$((n+1)); sleep 0.05; done`;
    const ns = spawn("unshare", ["-p", "-f", "setsid", "bash", "-c", script], {
      stdio: "ignore",
      detached: true,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
    });
    children.push(ns);
    assert.ok(
      await until(() => (counter(dir)?.n ?? 0) >= 3, 30_000),
      "the tree never counted to 3",
    );
    const tree = Number(
      execFileSync("pgrep", ["-P", String(ns.pid)], { encoding: "utf8" })
        .trim()
        .split("\n")[0],
    );
    pids.push(tree);

    const img = join(dir, "img");
    const tgt = join(dir, "tgt");
    mkdirSync(img);
    const port = await freeLoopbackPort();
    const addr = ["--address", "127.0.0.1", "--port", String(port)];
    const dump = spawn(
      "criu",
      ["dump", "-t", String(tree), "-D", img, "--lazy-pages", ...addr, "-v4", "-o", "dump.log"],
      { stdio: "ignore" },
    );
    children.push(dump);
    assert.ok(
      await until(() => readLog(join(img, "dump.log")).includes("Starting page server"), 60_000),
      `criu dump never served its pages:\n${readLog(join(img, "dump.log")).slice(-2000)}`,
    );
    const before = counter(dir)?.n ?? 0;
    cpSync(img, tgt, { recursive: true, filter: (src) => !src.endsWith("dump.log") });

    const lazy = spawn(
      "criu",
      ["lazy-pages", "--page-server", ...addr, "-D", tgt, "-v4", "-o", "lazy.log"],
      { stdio: "ignore" },
    );
    children.push(lazy);
    assert.ok(
      await until(() => readLog(join(tgt, "lazy.log")).includes("Waiting for incoming"), 30_000),
      "criu lazy-pages never listened",
    );
    const pidfile = join(dir, "restored.pid");
    try {
      execFileSync(
        "criu",
        [
          "restore",
          "-D",
          tgt,
          "--lazy-pages",
          "-d",
          "--pidfile",
          pidfile,
          "-v4",
          "-o",
          "restore.log",
        ],
        { stdio: "ignore" },
      );
    } finally {
      const p = Number(readLog(pidfile).trim());
      if (p > 0) pids.push(p);
    }
    const [lazyCode, dumpCode] = await Promise.all([exited(lazy), exited(dump)]);
    assert.equal(
      lazyCode,
      0,
      `criu lazy-pages failed:\n${readLog(join(tgt, "lazy.log"))
        .split("\n")
        .filter((l) => l.includes("Error"))
        .join("\n")}`,
    );
    assert.equal(
      dumpCode,
      0,
      `criu dump failed serving pages:\n${readLog(join(img, "dump.log"))
        .split("\n")
        .filter((l) => l.includes("Error"))
        .join("\n")}`,
    );
    const log = readLog(join(tgt, "lazy.log"));
    assert.match(log, /uffd_copy/, "no page came over the page server");

    const restored = pids[pids.length - 1] ?? 0;
    assert.ok(restored !== tree && alive(restored), "the restored tree is not running");
    let now = counter(dir);
    const counting = await until(() => {
      now = counter(dir);
      return (now?.n ?? 0) >= before + 3;
    }, 30_000);
    assert.ok(counting, `the restored tree does not count on from ${before}`);
    assert.equal(now?.length, MIB * 1024 * 1024, "its memory came back changed");
  });
});
