/**
 * `lxt checkpoint -s` / `lxt restore` of a booted Debian container, systemd
 * as its init (docs/checkpoint.md): after the restore systemd is running
 * with no failed unit, `attach` works, the journal takes new lines, and a
 * counter started before the dump goes on in the same process. Unprivileged
 * (the default) with every service running; privileged too, but where this
 * host's root lacks CAP_SYS_RESOURCE (criu then cannot read the limits of a
 * process running as another uid) the dump is refused up front with CRIU's
 * words, and the test shows the restore with only root's services running.
 * With a NIC: unprivileged is refused (criu's netlink, as for busybox);
 * privileged keeps its MAC and address, in a network namespace of the test's own.
 */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { hasCapSysResource } from "../../src/container/checkpoint-tasks.js";
import { assertBooted, buildDebianImage, debootstrapSkip } from "./debian-harness.js";
import {
  criuSkip,
  hostLeftovers,
  NetnsSandbox,
  netnsSkip,
  type RunResult,
  Sandbox,
  skipReason,
  until,
} from "./harness.js";

let skip = skipReason() ?? criuSkip([4, 2]) ?? debootstrapSkip();
if (skip) console.log(skip);

const COUNTER = `#!/bin/sh
i=0
while true; do i=$((i+1)); echo "$$ $i" > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done
`;

/** Units whose processes run as a uid other than root in the image (criu needs CAP_SYS_RESOURCE for them when privileged). */
const NON_ROOT_UNITS = [
  "systemd-networkd.socket",
  "systemd-networkd",
  "systemd-resolved",
  "systemd-logind",
  "dbus.socket",
  "dbus",
];

/** Whether this process (and so lxt and criu, its children) may read other uids' resource limits. */
const CAN_READ_LIMITS = hasCapSysResource(readFileSync("/proc/self/status", "utf8"));

/** The lxt of a state root: a sandbox's, or one run in a network namespace. */
interface Lxt {
  lxt: (args: string[]) => RunResult;
  ok: (args: string[]) => string;
  lxcpath: string;
}

describe("checkpoint and restore of a booted Debian (systemd)", { skip, timeout: 900_000 }, () => {
  let box: Sandbox;
  let dirs = "";
  before(() => {
    box = new Sandbox();
    dirs = mkdtempSync(join(tmpdir(), "lxt-ckdeb-"));
    // An unprivileged restore needs the directories above its images searchable by others.
    chmodSync(dirs, 0o711);
    const out = buildDebianImage(box);
    if (typeof out === "string") skip = out;
  });
  after(() => {
    box?.cleanup();
    if (dirs) rmSync(dirs, { recursive: true, force: true });
  });

  const sbox = (): Lxt => ({
    lxt: (a) => box.lxt(a),
    ok: (a) => box.ok(a),
    lxcpath: box.lxcpath,
  });
  const info = (h: Lxt, c: string) => JSON.parse(h.ok(["info", "-n", c, "--format", "json"]));
  const count = (h: Lxt, c: string): [number, number] => {
    const [pid, n] = h.ok(["attach", "-n", c, "--", "cat", "/tmp/count"]).trim().split(" ");
    return [Number(pid), Number(n)];
  };
  /** A booted Debian container with a counter running. */
  const boot = async (
    h: Lxt,
    c: string,
    o: { privileged: boolean; network?: string },
  ): Promise<void> => {
    const create = ["create", "-n", c, "-q", "-t", "debian/bookworm/minbase"];
    h.ok(o.network ? [...create, "--network", o.network] : create);
    const cfg = join(h.lxcpath, c, "config");
    if (o.privileged)
      writeFileSync(
        cfg,
        readFileSync(cfg, "utf8").replace(/^lxt\.privileged = 0$/m, "lxt.privileged = 1"),
      );
    writeFileSync(join(h.lxcpath, c, "rootfs", "counter.sh"), COUNTER, { mode: 0o755 });
    h.ok(["start", "-n", c]);
    await assertBooted(h, c);
    h.ok(["attach", "-n", c, "--", "sh", "-c", "setsid /counter.sh </dev/null >/dev/null 2>&1 &"]);
    assert.ok(
      await until(() => h.lxt(["attach", "-n", c, "--", "cat", "/tmp/count"]).code === 0, 10_000),
      "the counter never ran",
    );
  };
  /** -s, restore, and what must hold after: systemd running, no failed unit, attach, journal, the counter's process. */
  const roundTrip = async (h: Lxt, c: string, dir: string) => {
    const [pid0] = count(h, c);
    h.ok(["checkpoint", "-n", c, "-D", dir, "-s"]);
    assert.equal(info(h, c).state, "STOPPED");
    const dumped = Number(
      readFileSync(join(h.lxcpath, c, "rootfs", "tmp", "count"), "utf8")
        .trim()
        .split(" ")[1],
    );
    h.ok(["restore", "-n", c, "-D", dir]);
    assert.equal(info(h, c).state, "RUNNING");
    await assertBooted(h, c, 30_000);
    assert.ok(await until(() => count(h, c)[1] > dumped, 10_000), "the counter goes on");
    assert.equal(count(h, c)[0], pid0, "the same counter process");
    // journald's sockets came back: a new line reaches the journal.
    const marker = `restored-${Date.now()}`;
    h.ok(["attach", "-n", c, "--", "systemd-cat", "echo", marker]);
    assert.ok(
      await until(
        () =>
          h.lxt(["attach", "-n", c, "--", "journalctl", "-q", "--no-pager", "-g", marker]).stdout
            .length > 0,
        10_000,
      ),
      "the journal took a line after the restore",
    );
  };
  const stopped = (h: Lxt, c: string) => {
    h.ok(["stop", "-n", c, "-t", "30"]);
    assert.deepEqual(hostLeftovers(c), []);
  };

  test("unprivileged, no NIC: every service running, -s and restore", async (t) => {
    if (skip) return t.skip(skip);
    const h = sbox();
    const c = box.name("ckdu");
    await boot(h, c, { privileged: false });
    assert.match(h.ok(["attach", "-n", c, "--", "ps", "-e", "-o", "comm="]), /systemd-logind/);
    await roundTrip(h, c, join(dirs, "unpriv"));
    // logind runs in the container's own UTS namespace (the image's drop-in).
    assert.equal(
      h.ok(["attach", "-n", c, "--", "systemctl", "is-active", "systemd-logind"]).trim(),
      "active",
    );
    stopped(h, c);
  });

  test("privileged, no NIC: -s and restore (only root's services where root lacks CAP_SYS_RESOURCE)", async (t) => {
    if (skip) return t.skip(skip);
    const h = sbox();
    const c = box.name("ckdp");
    await boot(h, c, { privileged: true });
    if (!CAN_READ_LIMITS) {
      const r = h.lxt(["checkpoint", "-n", c, "-D", join(dirs, "priv-refused"), "-s"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /runs as uid\/gid \d+\/\d+, and this host's root lacks CAP_SYS_RESOURCE: .*"Can't get rlimit 0: Operation not permitted"/,
      );
      assert.equal(info(h, c).state, "RUNNING");
      assert.equal(existsSync(join(dirs, "priv-refused")), false, "nothing made");
      h.ok(["attach", "-n", c, "--", "systemctl", "stop", ...NON_ROOT_UNITS]);
    }
    await roundTrip(h, c, join(dirs, "priv"));
    if (!CAN_READ_LIMITS) {
      // The services stopped for the dump start again in the restored system.
      h.ok(["attach", "-n", c, "--", "systemctl", "start", "dbus", "systemd-logind"]);
      await assertBooted(h, c, 30_000);
    }
    stopped(h, c);
  });

  describe("with a veth on a managed network (own network namespace)", () => {
    let netns: NetnsSandbox | undefined;
    let net = "";
    const nbox = (): Lxt => ({
      lxt: (a) => (netns as NetnsSandbox).lxt(a),
      ok: (a) => (netns as NetnsSandbox).ok(a),
      lxcpath: box.lxcpath,
    });
    before(() => {
      if (skip || netnsSkip()) return;
      netns = new NetnsSandbox("ckd", { box, timeoutMs: 120_000 });
      netns.open();
      net = netns.network("ckd");
      netns.ok(["network", "create", net, "--ipv4", "10.0.73.1/24", "--nat", "false"]);
    });
    after(() => netns?.dispose());

    test("unprivileged with a NIC: refused up front, left running", async (t) => {
      if (skip) return t.skip(skip);
      if (!netns) return t.skip(netnsSkip());
      const h = nbox();
      const c = netns.name("ckdun");
      await boot(h, c, { privileged: false, network: net });
      const r = h.lxt(["checkpoint", "-n", c, "-D", join(dirs, "unic"), "-s"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /unprivileged containers with a NIC are not checkpointed/);
      assert.equal(info(h, c).state, "RUNNING");
      stopped(h, c);
    });

    test("privileged with a NIC: same MAC and address after the restore", async (t) => {
      if (skip) return t.skip(skip);
      if (!netns) return t.skip(netnsSkip());
      const h = nbox();
      const c = netns.name("ckdpn");
      await boot(h, c, { privileged: true, network: net });
      const eth0 = () => {
        const link = h.ok(["attach", "-n", c, "--", "ip", "-o", "link", "show", "eth0"]);
        const addr = h.ok(["attach", "-n", c, "--", "ip", "-o", "-4", "addr", "show", "eth0"]);
        return {
          mac: /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1] ?? "",
          addr: /inet (\S+)/.exec(addr)?.[1] ?? "",
        };
      };
      const here = eth0();
      assert.match(here.addr, /^10\.0\.73\.\d+\/24$/);
      if (!CAN_READ_LIMITS) {
        h.ok(["attach", "-n", c, "--", "systemctl", "stop", ...NON_ROOT_UNITS]);
        // networkd's stop takes its addresses with it: the one it had goes back by hand.
        if (eth0().addr === "")
          h.ok(["attach", "-n", c, "--", "ip", "addr", "add", here.addr, "dev", "eth0"]);
      }
      await roundTrip(h, c, join(dirs, "privnic"));
      assert.deepEqual(eth0(), here);
      stopped(h, c);
    });
  });
});
