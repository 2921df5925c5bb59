import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { attachArgs, attachEnvironment } from "../../src/container/attach.js";
import { planCgroups } from "../../src/container/runtime.js";
import { decodeField, encodeField } from "../../src/core/encode.js";
import { parseErrorLine, parseExitLine } from "../../src/host/helper-protocol.js";
import { describeFailure } from "../../src/host/monitor-client.js";
import {
  parseFibTrie,
  parseIfInet6,
  parseIpAddrJson,
  parseProcNics,
} from "../../src/host/netinfo.js";
import { exitStatus, parseProcessRef } from "../../src/host/proc.js";

describe("field encoding", () => {
  test("round-trips any text", () => {
    for (const s of [
      "",
      "plain",
      "a b",
      "%",
      "100%",
      "tab\there",
      "ü ñ",
      "new\nline",
      "=,:/@+-._",
    ]) {
      assert.equal(decodeField(encodeField(s)), s);
    }
    assert.equal(encodeField("a b"), "a%20b");
  });
  test("a field of safe characters is kept as it is; one unsafe byte is escaped where it is", () => {
    const path = "/var/tmp/lxtbench-net.AbC123/lxtnet-S/rootfs";
    assert.equal(encodeField(path), path);
    assert.equal(encodeField("/var/tmp/a b/rootfs"), "/var/tmp/a%20b/rootfs");
    // `$` is the end of the input, not of a line: a trailing newline is escaped
    assert.equal(encodeField("eth0\n"), "eth0%0A");
    assert.equal(encodeField("x\ny"), "x%0Ay");
    assert.equal(encodeField("café"), "caf%C3%A9");
  });
  test("rejects malformed escapes", () => {
    for (const bad of ["%2", "%zz", "a%"]) assert.throws(() => decodeField(bad));
  });
});

describe("helper lines", () => {
  test("error lines become messages with errno names", () => {
    const f = parseErrorLine("error exec exec /sbin/nosuch 2");
    assert.deepEqual(f, { stage: "exec", op: "exec", path: "/sbin/nosuch", errno: 2 });
    assert.ok(f);
    assert.match(describeFailure(f), /^exec \/sbin\/nosuch: ENOENT \(no such file or directory\)$/);
    assert.equal(parseErrorLine("running 1 2"), undefined);
  });
  test("an init that ended before its exec, and a plan over a bound", () => {
    const killed = parseErrorLine("error exec signal:9 /sbin/init 0");
    assert.ok(killed);
    assert.equal(
      describeFailure(killed),
      "the init was killed by SIGKILL before it could exec /sbin/init",
    );
    const exited = parseErrorLine("error exec exit:3 /bin/sh 0");
    assert.ok(exited);
    assert.equal(
      describeFailure(exited),
      "the init exited with status 3 before it could exec /bin/sh",
    );
    const over = parseErrorLine("error plan idmapped-mount:max=64 /run/lxt/x/c1/plan:70 7");
    assert.ok(over);
    assert.equal(
      describeFailure(over),
      "plan /run/lxt/x/c1/plan:70: more than 64 idmapped-mount records",
    );
  });
  test("an idmapped mount or a console device the monitor could not open names what and why", () => {
    const setattr = parseErrorLine("error idmap mount_setattr /srv/data 22");
    assert.ok(setattr);
    assert.equal(
      describeFailure(setattr),
      "idmapped mount of /srv/data: mount_setattr: EINVAL (invalid argument): its filesystem cannot be idmapped, or idmap= does not name a user namespace",
    );
    const missing = parseErrorLine("error idmap open_tree /srv/gone 2");
    assert.ok(missing);
    assert.equal(
      describeFailure(missing),
      "idmapped mount of /srv/gone: open_tree: ENOENT (no such file or directory)",
    );
    const tty = parseErrorLine("error console-path open /dev/ttyS9 2");
    assert.ok(tty);
    assert.equal(
      describeFailure(tty),
      "lxc.console.path /dev/ttyS9: open: ENOENT (no such file or directory)",
    );
    const maps = parseErrorLine("error idmap write /proc/7/uid_map 1");
    assert.ok(maps);
    assert.equal(describeFailure(maps), "write /proc/7/uid_map: EPERM (operation not permitted)");
  });
  test("exit lines", () => {
    assert.deepEqual(parseExitLine("exited 3"), { code: 3 });
    assert.deepEqual(parseExitLine("signaled 9\n"), { signal: 9 });
    assert.equal(parseExitLine("stopping"), undefined);
  });
  test("process refs", () => {
    assert.deepEqual(parseProcessRef("12 345\n"), { pid: 12, start: "345" });
    assert.equal(parseProcessRef("x 1"), undefined);
    assert.equal(parseProcessRef("0 1"), undefined);
  });
  test("cgroups from a plan", () => {
    const plan =
      "lxt-plan 1\ncgroup2 /u/lxt.payload.a\ncgroup1 /m/lxt.payload.a\ncgroup1 /c/lxt.payload.a\n";
    assert.deepEqual(planCgroups(plan), {
      v2: "/u/lxt.payload.a",
      v1: ["/m/lxt.payload.a", "/c/lxt.payload.a"],
    });
  });
});

describe("attach", () => {
  test("a clean environment by default, nothing of the caller's", () => {
    const env = attachEnvironment({}, { SECRET: "x", TERM: "xterm" });
    assert.ok(env.includes("container=lxc"));
    assert.ok(env.includes("TERM=xterm"));
    assert.ok(env.includes("HOME=/root"));
    assert.ok(!env.some((e) => e.startsWith("SECRET")));
  });
  test("--keep-env and -v", () => {
    const env = attachEnvironment({ keepEnv: true, setEnv: ["A=1", "B"] }, { SECRET: "x", B: "2" });
    assert.ok(env.includes("SECRET=x") && env.includes("A=1") && env.includes("B=2"));
  });
  test("helper arguments", () => {
    const args = attachArgs(
      { pid: 5, start: "9" },
      { v2: "/u", v1: ["/m"] },
      { argv: ["ls", "-l"], uid: 1, cwd: "/tmp", pty: false },
      ["X=1"],
    );
    assert.deepEqual(args, [
      "attach",
      "--pid",
      "5",
      "--pid-start",
      "9",
      "--cgroup",
      "/u",
      "--cgroup",
      "/m",
      "--uid",
      "1",
      "--cwd",
      "/tmp",
      "--env",
      "X=1",
      "--no-pty",
      "--",
      "ls",
      "-l",
    ]);
  });
  test("helper arguments: the running plan supplies the confinement", () => {
    const args = attachArgs(
      { pid: 5, start: "9" },
      { v1: [] },
      { argv: ["sh"], pty: true },
      [],
      "/run/lxt/x/c1/plan",
    );
    assert.deepEqual(args, [
      "attach",
      "--pid",
      "5",
      "--pid-start",
      "9",
      "--confinement",
      "/run/lxt/x/c1/plan",
      "--pty",
      "--",
      "sh",
    ]);
  });
});

describe("addresses", () => {
  test("fib_trie local addresses without loopback", () => {
    const trie = `Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.0.3.5\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\nLocal:\n     |-- 10.0.3.5\n        /32 host LOCAL\n`;
    assert.deepEqual(parseFibTrie(trie), ["10.0.3.5"]);
  });
  test("if_inet6 global addresses only", () => {
    const text =
      "fd000000000000000000000000000002 02 40 00 80 eth0\nfe8000000000000000fc00fffe000001 02 40 20 80 eth0\n00000000000000000000000000000001 01 80 10 80 lo\n";
    assert.deepEqual(parseIfInet6(text), ["fd00::2"]);
  });
});

describe("a namespace's NICs from /proc alone", () => {
  const route =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
    "eth0\t00000000\t0103000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
    "eth0\t0003000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
    "eth1\t000010AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
  const trie = (addrs: string[]) =>
    `Local:\n${addrs.map((a) => `     |-- ${a}\n        /32 host LOCAL\n`).join("")}`;
  const inet6 =
    "fd000000000000000000000000000002 02 40 00 80 eth0\nfe8000000000000000fc00fffe000001 02 40 20 80 eth0\n" +
    "00000000000000000000000000000001 01 80 10 80       lo\n";

  test("each IPv4 address goes to the link whose connected route holds it; IPv6 names its link", () => {
    const nics = parseProcNics(trie(["10.0.3.5", "172.16.9.1", "127.0.0.1"]), route, inet6);
    assert.deepEqual(nics, [
      { name: "eth0", ipv4: ["10.0.3.5"], ipv6: ["fd00::2"] },
      { name: "eth1", ipv4: ["172.16.9.1"], ipv6: [] },
    ]);
  });

  test("an address no connected route holds (a /32) leaves the answer to ip", () => {
    assert.equal(parseProcNics(trie(["10.0.3.5", "192.0.2.7"]), route, inet6), undefined);
  });

  test("on this machine it agrees with `ip -j addr` wherever /proc can place every address", (t) => {
    const read = (f: string) => readFileSync(`/proc/self/net/${f}`, "utf8");
    let fromProc: ReturnType<typeof parseProcNics>;
    try {
      fromProc = parseProcNics(read("fib_trie"), read("route"), read("if_inet6"));
    } catch {
      t.skip("SKIP: no IPv6 /proc files here");
      return;
    }
    if (!fromProc) {
      t.skip("SKIP: an address of this host has no connected route (/proc cannot place it)");
      return;
    }
    const byIp = parseIpAddrJson(execFileSync("ip", ["-j", "addr", "show"], { encoding: "utf8" }));
    const withAddr = (l: { name: string; ipv4: string[]; ipv6: string[] }[]) =>
      l
        .filter((n) => n.ipv4.length + n.ipv6.length > 0)
        .map((n) => ({ name: n.name, ipv4: [...n.ipv4].sort(), ipv6: [...n.ipv6].sort() }))
        .sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(withAddr(fromProc), withAddr(byIp));
  });
});

describe("exit status", () => {
  test("a code, or 128 + the signal's number", () => {
    assert.equal(exitStatus(3, null), 3);
    assert.equal(exitStatus(null, "SIGKILL"), 137);
    assert.equal(exitStatus(null, "SIGINT"), 130);
  });
});
