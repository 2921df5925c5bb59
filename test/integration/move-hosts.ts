/**
 * lxtd hosts for the stopped-move tests (migrate-btrfs, migrate-zfs): each
 * in a network namespace of its own with its own state root, the sender's
 * CLI joined to each remote by a veth pair and trusted by token; and the
 * check that a failed move left the source as it was and nothing on the
 * remote.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetnsSandbox } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

export interface MoveHost {
  box: LxtdSandbox;
  net: NetnsSandbox;
  addr: string;
  /** Removes what the host's state root is on (its loop mount, its pool), after the box. */
  close?: () => void;
}

export class MoveHosts {
  readonly hosts: MoveHost[] = [];

  /** A host on `stateRoot` (a temp dir when not given) at `addr`; `close` goes after its box. */
  open(prefix: string, addr: string, stateRoot?: string, close?: () => void): MoveHost {
    const box = new LxtdSandbox(stateRoot);
    const net = new NetnsSandbox(prefix, { box, timeoutMs: 300_000 });
    const h = { box, net, addr, close };
    this.hosts.push(h);
    net.open();
    return h;
  }

  /**
   * Joins sender `a` (address `from`, its link named for `tag`) to `to` by a
   * veth pair, starts `to`'s lxtd on `to.addr:8443` (`path` first on its
   * PATH) and adds it as a's remote `name`, trusted by token.
   */
  async serve(
    a: MoveHost,
    to: MoveHost,
    opts: { name: string; from: string; path?: string },
  ): Promise<void> {
    const la = a.net.network(`w${opts.name}`);
    const lb = to.net.network("w");
    execFileSync("ip", [
      ...["link", "add", la, "netns", a.net.ns, "type", "veth"],
      ...["peer", "name", lb, "netns", to.net.ns],
    ]);
    for (const [h, link, addr] of [
      [a, la, opts.from],
      [to, lb, to.addr],
    ] as const) {
      h.net.nsOk(["ip", "addr", "add", `${addr}/24`, "dev", link]);
      h.net.nsOk(["ip", "link", "set", link, "up"]);
    }
    await to.box.startDaemon(["--https", `${to.addr}:8443`, "--request-timeout", "600"], {
      netns: to.net.ns,
      ...(opts.path ? { env: { PATH: `${opts.path}:${process.env.PATH}` } } : {}),
    });
    const token = to.net.ok(["trust", "token", "from-a"]).trim();
    a.net.ok(["remote", "add", opts.name, `https://${to.addr}:8443`, "--token", token]);
  }

  /** Destroys every container, stops the daemons, removes the namespaces and state roots. */
  async close(): Promise<void> {
    for (const h of this.hosts) {
      for (const n of names(h)) h.net.lxt(["destroy", "-f", "-s", "-n", n]);
      await h.box.stopDaemon();
      h.net.dispose();
      await h.box.close();
      h.close?.();
    }
  }
}

/** The containers of `h`. */
export const names = (h: MoveHost) => readdirSync(h.box.lxcpath).filter((n) => !n.startsWith("."));

/** Staging directories (and a filesystem's lost+found) in `h`'s state root. */
export const hidden = (h: MoveHost) =>
  readdirSync(h.box.lxcpath).filter((n) => n.startsWith(".lxt-") || n === "lost+found");

/** What `h`'s lxtd spooled. */
export const uploads = (h: MoveHost) => {
  const dir = join(h.box.lxcpath, ".lxtd", "uploads");
  return existsSync(dir) ? readdirSync(dir) : [];
};

export const marker = (dir: string) => readFileSync(join(dir, "marker"), "utf8");

/**
 * Moves `n` from `a` to remote `b:` with `setMode(failMode)` (reset to
 * `pass` after), `env` for a's CLI; the move must fail with `why`, leaving
 * a's container (its marker, its snapshot) and `storage` of both (their
 * subvolumes, datasets) as they were and nothing on b (the sender's
 * failure returns only once b has dropped what it received).
 */
export function failedMove(
  hosts: { a: MoveHost; b: MoveHost },
  n: string,
  opts: {
    setMode: (m: string) => void;
    failMode: string;
    why: RegExp;
    storage: (h: MoveHost) => string[];
    /** Where snapshot snap0's files are read, under the container's directory. */
    snap0: string;
    env?: NodeJS.ProcessEnv;
  },
): void {
  const { a, b } = hosts;
  const src = join(a.box.lxcpath, n);
  writeFileSync(join(src, "rootfs", "marker"), "kept\n");
  a.net.ok(["snapshot", "-n", n]);
  const beforeB = opts.storage(b);
  const beforeA = opts.storage(a);
  opts.setMode(opts.failMode);
  try {
    const r = a.net.lxt(["move", n, "b:"], opts.env ?? {});
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, opts.why);
  } finally {
    opts.setMode("pass");
  }
  assert.equal(marker(join(src, "rootfs")), "kept\n");
  assert.equal(marker(join(src, opts.snap0)), "kept\n");
  assert.match(a.net.ok(["ls", "-f"]), new RegExp(`${n}\\s+STOPPED`));
  assert.deepEqual(opts.storage(a), beforeA);
  assert.deepEqual(opts.storage(b), beforeB);
  assert.equal(names(b).includes(n), false);
  assert.deepEqual(hidden(a), []);
  assert.deepEqual(hidden(b), []);
  assert.deepEqual(uploads(b), []);
  a.net.ok(["destroy", "-s", "-n", n]);
}

/**
 * A wrapper of command `cmd` (at `real`), first on PATH where `dir` is
 * put: it runs `real` unless `mode` names one of `arms`, a shell `case` arm
 * body run first (it fails the way the test wants, or falls through).
 */
export class FailingWrapper {
  readonly dir = mkdtempSync(join(tmpdir(), "lxt-fakecmd-"));
  constructor(cmd: string, real: string, arms: Record<string, string>) {
    const cases = Object.entries(arms)
      .map(([m, body]) => `${m})\n${body}\n  ;;`)
      .join("\n");
    const mode = join(this.dir, "mode");
    writeFileSync(
      join(this.dir, cmd),
      `#!/bin/sh\ncase "$(cat ${mode} 2>/dev/null)" in\n${cases}\nesac\nexec ${real} "$@"\n`,
    );
    chmodSync(join(this.dir, cmd), 0o755);
    this.mode("pass");
  }
  readonly mode = (m: string): void => writeFileSync(join(this.dir, "mode"), m);
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Sender a (no daemon: its CLI sends), b (a stream backend's state root,
 * `fake` first on its lxtd's PATH) and c (a plain directory), at
 * `${net}.0.1`, `${net}.0.2` and `${net2}.0.3`, `open` making each.
 */
export async function openMoveHosts(
  hosts: MoveHosts,
  open: (prefix: string, addr: string, streams: boolean) => MoveHost,
  opts: { prefix: string; net: string; net2: string; fake: string },
): Promise<{ a: MoveHost; b: MoveHost; c: MoveHost }> {
  const a = open(`${opts.prefix}a`, `${opts.net}.0.1`, true);
  const b = open(`${opts.prefix}b`, `${opts.net}.0.2`, true);
  const c = open(`${opts.prefix}c`, `${opts.net2}.0.3`, false);
  await hosts.serve(a, b, { name: "b", from: a.addr, path: opts.fake });
  await hosts.serve(a, c, { name: "c", from: `${opts.net2}.0.1` });
  return { a, b, c };
}

/**
 * Gives container `n` on `a` two snapshots (marker `one`, `two`; `three`
 * in its rootfs after), moves it to b and checks it went by `transport`'s
 * send and is gone from a. Returns its directory on b.
 */
export function moveWithSnapshots(a: MoveHost, b: MoveHost, n: string, transport: string): string {
  const src = join(a.box.lxcpath, n);
  for (const m of ["one", "two"]) {
    writeFileSync(join(src, "rootfs", "marker"), `${m}\n`);
    a.net.ok(["snapshot", "-n", n]);
  }
  writeFileSync(join(src, "rootfs", "marker"), "three\n");
  const out = a.net.ok(["move", n, "b:", "-v"]);
  assert.match(out, new RegExp(`moved ${n} to b:${n} \\(\\d+ bytes sent by ${transport} send\\)`));
  assert.equal(names(a).includes(n), false);
  return join(b.box.lxcpath, n);
}

/**
 * Moves container `n` from a to b under a new name and checks that its
 * config and /etc/hostname say it there. Returns the new name.
 */
export function moveRenamed(a: MoveHost, b: MoveHost, n: string): string {
  const to = `${n}-new`;
  a.net.ok(["move", n, `b:${to}`]);
  const dst = join(b.box.lxcpath, to);
  assert.equal(readFileSync(join(dst, "rootfs", "etc", "hostname"), "utf8"), `${to}\n`);
  assert.match(
    readFileSync(join(dst, "config"), "utf8"),
    new RegExp(`^lxc\\.uts\\.name = ${to}$`, "m"),
  );
  return to;
}
