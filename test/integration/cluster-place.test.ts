/**
 * Forwarding and placement between lxtd members on a real etcd: three etcd
 * members in a switch namespace and three lxtd members on separate
 * "machines" (`NetnsMembers`: each in a network namespace and state root
 * of its own, HTTPS on its address there, joined to the switch by a veth).
 * The stock client talks to one member (its unix socket, or its HTTPS
 * address from the switch) about instances another holds, which the member
 * forwards over the wires; creates go where `--target` says or to the
 * least loaded member.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { etcdSkipReason, NetnsMembers, waitFor } from "./etcd-harness.js";
import { LXT, netnsSkip } from "./harness.js";
import { LXTD, type LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? etcdSkipReason() ?? netnsSkip(["ip", "nsenter"]);
if (skip) console.log(skip);

const TTL = 2;

interface Instance {
  name: string;
  location: string;
  status: string;
}

interface Heartbeat {
  name: string;
  load: { running: number };
}

describe("lxtd cluster: any member answers, placement", { skip, timeout: 300_000 }, () => {
  const names = ["m0", "m1", "m2"];
  const hosts = new NetnsMembers(names, TTL);
  const box = (i: number) => hosts.box(i);
  const instance = (b: LxtdSandbox, name: string) =>
    JSON.parse(b.lxcOk(["query", `/1.0/instances/${name}`])) as Instance;
  /** Waits until `member`'s published load shows `running` containers running. */
  const loadShows = (b: LxtdSandbox, member: string, running: number) =>
    waitFor(() => {
      const hb = JSON.parse(b.lxcOk(["query", "/1.0/cluster/heartbeats"])) as Heartbeat[];
      return hb.find((m) => m.name === member)?.load.running === running ? true : undefined;
    }, TTL * 5000);

  const tokens: Record<string, string> = {};
  /** A join token for `name` from m0: `lxt cluster add` (LXT) or the stock `lxc cluster add`. */
  const tokenFor = (name: string, via: "lxt" | "lxc") => {
    const out =
      via === "lxc"
        ? box(0).lxcOk(["cluster", "add", name])
        : execFileSync(LXT, ["cluster", "add", name, "-P", box(0).lxcpath], { encoding: "utf8" });
    const m = /^Member (\S+) join token:\n([A-Za-z0-9+/=]+)\n$/.exec(out);
    assert.ok(m, out);
    assert.equal(m[1], name);
    return m[2] as string;
  };

  before(async () => {
    // m0 founds the members' trust; m1 and m2 join it with tokens.
    await hosts.start(1);
    tokens.m1 = tokenFor("m1", "lxt");
    await hosts.startMember(1, ["--cluster-token", tokens.m1]);
    await hosts.startMember(2, ["--cluster-token", tokenFor("m2", "lxc")]);
  });
  after(async () => assert.deepEqual(await hosts.close(), []));

  test("`lxc launch --target m2` through m0 makes it on m2; m0 answers for it", () => {
    box(0).lxcOk(["launch", "busybox", "c1", "--target", "m2"]);
    assert.ok(existsSync(`${box(2).lxcpath}/c1`), "c1 is on m2");
    assert.equal(existsSync(`${box(0).lxcpath}/c1`), false, "not on m0");
    // m0 and m1 answer with m2's own view of it.
    for (const i of [0, 1]) {
      const c = instance(box(i), "c1");
      assert.deepEqual([c.location, c.status], ["m2", "Running"]);
    }
    const state = JSON.parse(box(1).lxcOk(["query", "/1.0/instances/c1/state"])) as {
      status: string;
      pid: number;
    };
    assert.equal(state.status, "Running");
    assert.ok(state.pid > 0);
    const bad = box(0).lxc(["launch", "busybox", "c9", "--target", "nope"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Cluster member "nope" not found/);
    assert.equal(box(0).lxc(["query", "/1.0/instances/c9"]).code === 0, false, "no c9 anywhere");
  });

  test("`lxc exec` through m0 runs on m2: output, exit code, stdin", () => {
    assert.equal(box(0).lxcOk(["exec", "c1", "--", "cat", "/proc/1/comm"]).trim(), "init");
    const code = box(0).lxc(["exec", "c1", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert.equal(code.code, 3, code.stderr);
    assert.equal(code.stdout, "out\n");
    assert.equal(code.stderr, "err\n");
    const piped = box(1).lxcOk(["exec", "c1", "--", "tr", "a-z", "A-Z"], { input: "hello\n" });
    assert.equal(piped, "HELLO\n");
    // A file pushed through m1 is in m2's container.
    box(1).lxcOk(["file", "push", "-", "c1/tmp/f"], { input: "via m1\n" });
    assert.equal(box(0).lxcOk(["exec", "c1", "--", "cat", "/tmp/f"]), "via m1\n");
  });

  test("the stock client on the switch, over m1's HTTPS address: members at their own addresses; c1 listed at m2, exec runs there", () => {
    const urls = (
      JSON.parse(box(0).lxcOk(["query", "/1.0/cluster/members?recursion=1"])) as {
        server_name: string;
        url: string;
      }[]
    ).map((m) => `${m.server_name} ${m.url}`);
    assert.deepEqual(
      urls.sort(),
      names.map((n, i) => `${n} https://${hosts.host(i).ip}:8443`),
    );
    // A client of its own, in the switch's namespace: it reaches the members only over the wires.
    const conf = mkdtempSync(join(tmpdir(), "lxt-lxdconf-"));
    try {
      writeFileSync(join(conf, "config.yml"), "default-remote: local\nremotes: {}\naliases: {}\n");
      const client = (args: string[]) => {
        const r = spawnSync("nsenter", [`--net=/run/netns/${hosts.net.hub.ns}`, "lxc", ...args], {
          env: { ...process.env, LXD_CONF: conf },
          encoding: "utf8",
          input: "",
          timeout: 60_000,
        });
        assert.equal(r.status, 0, `lxc ${args.join(" ")}: ${r.stdout}${r.stderr}`);
        return r.stdout;
      };
      const token = box(1).lxcOk(["config", "trust", "add", "--name", "switch", "-q"]).trim();
      client(["remote", "add", "m1", token]);
      assert.match(client(["list", "m1:", "-f", "csv", "-c", "nsL"]), /^c1,RUNNING,m2$/m);
      assert.equal(client(["exec", "m1:c1", "--", "cat", "/proc/1/comm"]).trim(), "init");
    } finally {
      rmSync(conf, { recursive: true, force: true });
    }
  });

  test("placement: without --target a create goes to the least loaded member", async () => {
    // m2 runs c1; once its heartbeat says so, m2 itself places elsewhere.
    assert.ok(await loadShows(box(2), "m2", 1), "m2's load shows c1 running");
    box(2).lxcOk(["launch", "busybox", "p1"]);
    const p1 = instance(box(2), "p1");
    assert.notEqual(p1.location, "m2");
    assert.ok(["m0", "m1"].includes(p1.location), p1.location);
    const on = names.indexOf(p1.location);
    assert.ok(existsSync(`${box(on).lxcpath}/p1`), `p1 is on ${p1.location}`);
    // p1's member runs one now: the next create goes to the member that runs none.
    assert.ok(await loadShows(box(0), p1.location, 1));
    box(0).lxcOk(["launch", "busybox", "p2"]);
    const idle = names.find((n) => n !== "m2" && n !== p1.location);
    assert.equal(instance(box(1), "p2").location, idle);
  });

  test("an image only m0 has is copied to the member that needs it on first use", () => {
    // An image of m0's own: a busybox rootfs with a mark, imported with an alias.
    box(0).lxcOk(["init", "busybox", "src", "--target", "m0"]);
    const dir = join(box(0).lxcpath, "img-files");
    mkdirSync(dir);
    const rootfs = join(box(0).lxcpath, "src", "rootfs");
    writeFileSync(join(rootfs, "etc", "lxt-mark"), "from m0\n");
    writeFileSync(
      join(dir, "metadata.yaml"),
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: busybox\n  release: m0\n",
    );
    const meta = join(dir, "meta.tar.xz");
    const root = join(dir, "rootfs.tar.xz");
    execFileSync("tar", ["-C", dir, "-cJf", meta, "metadata.yaml"]);
    execFileSync("tar", ["-C", rootfs, "--numeric-owner", "-cJf", root, "."]);
    box(0).lxcOk(["image", "import", meta, root, "--alias", "img1"]);
    box(0).lxcOk(["delete", "src"]);
    const fp = (
      JSON.parse(box(0).lxcOk(["query", "/1.0/images/aliases/img1"])) as { target: string }
    ).target;
    const stored = (b: LxtdSandbox) => existsSync(join(b.lxcpath, "images", fp));
    assert.ok(stored(box(0)) && !stored(box(1)) && !stored(box(2)), "only m0 has it");
    // Every member shows it (from m0), as the stock client looks it up before a launch.
    const seen = JSON.parse(box(2).lxcOk(["query", `/1.0/images/${fp}`])) as {
      fingerprint: string;
    };
    assert.equal(seen.fingerprint, fp);
    // Asked of m2, made on m1: m1 pulls it from m0.
    box(2).lxcOk(["launch", "img1", "i1", "--target", "m1"]);
    assert.equal(instance(box(0), "i1").location, "m1");
    assert.equal(box(2).lxcOk(["exec", "i1", "--", "cat", "/etc/lxt-mark"]), "from m0\n");
    assert.ok(stored(box(1)), "m1 keeps its copy");
    assert.equal(stored(box(2)), false, "m2 only asked");
    box(1).lxcOk(["delete", "i1", "--force"]);
    // An image no member has is refused as LXD does.
    const none = box(2).lxc(["launch", "no-such-image", "i2", "--target", "m1"]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /not found/i);
  });

  test("`lxt launch/create --target` go through the local lxtd to the member named", () => {
    const lxt = (args: string[]) =>
      spawnSync(LXT, [...args, "-P", box(0).lxcpath], { encoding: "utf8", timeout: 120_000 });
    const l = lxt(["launch", "busybox", "l1", "--target", "m1"]);
    assert.equal(l.status, 0, l.stderr);
    assert.deepEqual(
      [instance(box(0), "l1").location, instance(box(0), "l1").status],
      ["m1", "Running"],
    );
    const c = lxt(["create", "-n", "l2", "--empty", "--target", "m2"]);
    assert.equal(c.status, 0, c.stderr);
    assert.ok(existsSync(`${box(2).lxcpath}/l2`), "l2 is on m2");
    const bad = lxt(["launch", "busybox", "l3", "--target", "nope"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--target nope: Cluster member "nope" not found/);
    box(0).lxcOk(["delete", "l1", "--force"]);
    box(0).lxcOk(["delete", "l2"]);
  });

  test("`lxc stop` and `lxc delete` through m0 act on m2", async () => {
    box(0).lxcOk(["stop", "c1", "--force"]);
    assert.equal(instance(box(2), "c1").status, "Stopped");
    // A snapshot and a rename through m1: made on m2, the new name claimed there.
    box(1).lxcOk(["snapshot", "c1", "s0"]);
    assert.match(box(2).lxcOk(["query", "/1.0/instances/c1/snapshots"]), /\/snapshots\/s0/);
    box(1).lxcOk(["move", "c1", "c2"]);
    assert.ok(existsSync(`${box(2).lxcpath}/c2`), "renamed on m2");
    assert.equal(instance(box(0), "c2").location, "m2");
    box(1).lxcOk(["move", "c2", "c1"]);
    box(0).lxcOk(["delete", "c1"]);
    assert.equal(existsSync(`${box(2).lxcpath}/c1`), false, "c1 is gone from m2");
    const gone = box(0).lxc(["query", "/1.0/instances/c1"]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /not found/i);
    for (const n of ["p1", "p2"]) box(1).lxcOk(["delete", n, "--force"]);
    for (const b of hosts.boxes) {
      assert.equal(b.lxcOk(["list", "--format", "csv", "-c", "n"]).trim(), "", "nothing left");
    }
  });

  test("join tokens: a spent, forged, another member's or malformed token is refused; without one a member joins untrusted", async () => {
    // A fourth machine on the switch.
    const host = hosts.net.plug();
    const extra = host.box;
    try {
      const flags = (member: string, token?: string) =>
        hosts.flags(host, member, token === undefined ? [] : ["--cluster-token", token]);
      const refused = (member: string, token: string, why: RegExp) => {
        const r = spawnSync(
          "nsenter",
          [
            `--net=/run/netns/${host.net.ns}`,
            LXTD,
            "--foreground",
            "-P",
            extra.lxcpath,
            ...flags(member, token),
          ],
          { encoding: "utf8", timeout: 60_000 },
        );
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, why);
        assert.equal(existsSync(extra.socket), false, "it does not serve");
      };
      const t3 = tokenFor("m3", "lxt");
      refused("m4", t3, /--cluster-token: the token is for member m3, not m4/);
      const decoded = JSON.parse(Buffer.from(t3, "base64").toString()) as object;
      const forged = Buffer.from(JSON.stringify({ ...decoded, secret: "0".repeat(64) }));
      refused(
        "m3",
        forged.toString("base64"),
        /--cluster-token: the join token for m3 is not valid/,
      );
      refused("m3", "not-a-token", /--cluster-token: not a join token/);
      refused("m1", tokens.m1 as string, /--cluster-token: the join token for m1 was already used/);
      const dup = box(0).lxc(["cluster", "add", "m2"]);
      assert.notEqual(dup.code, 0);
      assert.match(dup.stderr, /The cluster already has a member with name: m2/);
      // Without a token a member joins, but the others refuse what it forwards.
      box(0).lxcOk(["init", "--empty", "u1", "--target", "m0"]);
      await extra.startDaemon(flags("m3"), { netns: host.net.ns });
      assert.match(extra.log, /not trusted by the others/);
      const r = extra.lxc(["query", "/1.0/instances/u1"]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /not authorized/);
      // m3 with its token is trusted, restarted on the same state root.
      await extra.stopDaemon();
      await extra.startDaemon(flags("m3", t3), { netns: host.net.ns });
      assert.equal(instance(extra, "u1").location, "m0");
      box(0).lxcOk(["delete", "u1"]);
    } finally {
      // The rest (state root, namespace) goes with the others in `after`.
      await extra.stopDaemon();
    }
  });
});
