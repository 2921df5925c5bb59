/**
 * LXD config and devices ⇄ LXC entries (src/api/lxd-config.ts,
 * lxd-devices.ts): round trips both ways, LXD's refusals, profiles'
 * expansion and the local part, and the config rewrite and rename helpers.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ApiError } from "../../src/api/envelope.js";
import { expandProfiles, localPart } from "../../src/api/instance-config.js";
import { type LxdConfig, lxdView, renderLxc } from "../../src/api/lxd-config.js";
import type { Profile } from "../../src/api/profiles.js";
import { ConfigDocument } from "../../src/config/write.js";
import { parseConfigText, rewriteEntries } from "../../src/container/config-replace.js";
import { relocateConfigText } from "../../src/container/rename.js";

const ROOT = { root: { path: "/", pool: "default", type: "disk" } };

/** LXD → LXC → LXD. */
function roundTrip(view: LxdConfig, hints = true): LxdConfig {
  const r = renderLxc(view, [{ key: "lxc.rootfs.path", value: "dir:/x/c1/rootfs" }]);
  return lxdView(r.entries, r.forwards, { name: "c1", ...(hints ? { hints: view } : {}) });
}

function refused(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 400);
    assert.match(err.message, message);
    return true;
  });
}

describe("LXD config ⇄ LXC entries", () => {
  test("every mapped key comes back as given", () => {
    const config = {
      "limits.memory": "64MiB",
      "limits.memory.swap": "false",
      "limits.processes": "100",
      "limits.cpu": "0-1",
      "limits.cpu.allowance": "50ms/100ms",
      "security.privileged": "true",
      "security.nesting": "true",
      "boot.autostart": "true",
      "boot.autostart.delay": "5",
      "boot.autostart.priority": "10",
      "environment.FOO": "bar=baz",
      "raw.lxc": "lxc.signal.halt = SIGUSR1\nlxc.tty.max = 2\n",
    };
    const back = roundTrip({ config, devices: ROOT }, false);
    assert.deepEqual(back, { config, devices: ROOT });
  });

  test("the LXC entries each key becomes", () => {
    const r = renderLxc({
      config: {
        "limits.memory": "64MB",
        "limits.cpu": "2",
        "security.idmap.base": "200000",
        "boot.autostart.priority": "3",
        "environment.A": "1",
      },
      devices: {},
    });
    const text = r.entries.map((e) => `${e.key} = ${e.value}`);
    assert.deepEqual(text, [
      "lxt.privileged = 0",
      "lxc.start.order = -3",
      "lxc.environment = A=1",
      "lxt.limits.cpu = 2",
      "lxt.limits.memory = 64000000",
      "lxc.idmap = u 0 200000 65536",
      "lxc.idmap = g 0 200000 65536",
      "lxc.net.0.type = empty",
    ]);
    // 64MB is decimal in LXD: the view shows bytes, or the hint while it still means the same.
    assert.equal(lxdView(r.entries).config["limits.memory"], "64000000");
    assert.equal(
      lxdView(r.entries, [], { hints: { config: { "limits.memory": "64MB" }, devices: {} } })
        .config["limits.memory"],
      "64MB",
    );
    assert.equal(lxdView(r.entries).config["security.idmap.base"], "200000");
  });

  test("an LXC config shows as LXD keys plus raw.lxc, and renders back to the same entries", () => {
    const entries = parseConfigText(
      [
        "lxc.rootfs.path = dir:/x/c1/rootfs",
        "lxc.uts.name = c1",
        "lxc.signal.halt = SIGUSR1",
        "lxc.net.0.type = veth",
        "lxc.net.0.link = br0",
        "lxc.net.0.flags = up",
        "lxc.net.0.name = eth0",
        "lxc.net.0.hwaddr = 00:16:3e:00:00:01",
        "lxc.net.0.ipv4.gateway = auto",
        "lxt.privileged = 0",
        "lxt.limits.memory = 32M",
        "lxt.limits.memory.swap = 1G",
        "lxt.limits.cpu = 0.25",
        "lxt.volatile.idmap.base = 100000",
        "lxc.mount.entry = /srv/data srv none bind,create=dir,ro 0 0",
        "lxc.mount.entry = tmpfs tmp tmpfs defaults 0 0",
        "",
      ].join("\n"),
      "config",
    );
    const view = lxdView(entries, [{ proto: "tcp", port: 8080, targetPort: 80 }], { name: "c1" });
    assert.deepEqual(view.config, {
      "limits.memory": "32M",
      "limits.cpu.allowance": "25ms/100ms",
      "volatile.idmap.base": "100000",
      "raw.lxc":
        "lxc.signal.halt = SIGUSR1\nlxc.net.0.ipv4.gateway = auto\nlxt.limits.memory.swap = 1G\nlxc.mount.entry = tmpfs tmp tmpfs defaults 0 0\n",
    });
    assert.deepEqual(view.devices, {
      ...ROOT,
      eth0: {
        type: "nic",
        nictype: "bridged",
        parent: "br0",
        name: "eth0",
        hwaddr: "00:16:3e:00:00:01",
      },
      srv: { type: "disk", source: "/srv/data", path: "/srv", readonly: "true" },
      "proxy-tcp-8080": {
        type: "proxy",
        listen: "tcp:0.0.0.0:8080",
        connect: "tcp:127.0.0.1:80",
      },
    });
    const r = renderLxc(view, entries);
    const key = (e: { key: string; value: string }) => `${e.key} = ${e.value}`;
    assert.deepEqual(r.entries.map(key).sort(), entries.map(key).sort());
    assert.deepEqual(r.forwards, [{ proto: "tcp", port: 8080, targetPort: 80 }]);
  });

  test("devices keep their names and forms while they mean the same", () => {
    const view: LxdConfig = {
      config: {},
      devices: {
        ...ROOT,
        net: { type: "nic", network: "lxtbr0", name: "eth0" },
        lan: { type: "nic", nictype: "macvlan", parent: "enp1s0", mtu: "1400" },
        d1: { type: "disk", source: "/tmp", path: "/mnt/x" },
        web: { type: "proxy", listen: "tcp:127.0.0.1:8080", connect: "tcp:127.0.0.1:80" },
      },
    };
    assert.deepEqual(roundTrip(view), view);
    const r = renderLxc(view);
    assert.deepEqual(
      r.entries.filter((e) => e.key.startsWith("lxc.net.1.")).map((e) => `${e.key}=${e.value}`),
      ["lxc.net.1.type=veth", "lxc.net.1.link=lxtbr0", "lxc.net.1.flags=up", "lxc.net.1.name=eth0"],
    );
    // A NIC already in the config keeps its index when another is added.
    const again = renderLxc(
      { ...view, devices: { ...view.devices, aaa: { type: "nic", network: "x", name: "eth9" } } },
      r.entries,
    );
    assert.ok(again.entries.some((e) => e.key === "lxc.net.1.link" && e.value === "lxtbr0"));
    assert.ok(again.entries.some((e) => e.key === "lxc.net.2.link" && e.value === "x"));
  });

  test("keys and devices with no meaning here are refused with LXD's words", () => {
    const render =
      (config: Record<string, string>, devices = {}) =>
      () =>
        renderLxc({ config, devices });
    refused(
      render({ "limits.frob": "1" }),
      /^Invalid config: Unknown configuration key: limits\.frob$/,
    );
    refused(
      render({ "migration.stateful": "true" }),
      /Unknown configuration key: migration\.stateful/,
    );
    refused(render({ "limits.cpu.allowance": "50%" }), /limits\.cpu\.allowance: "50%"/);
    refused(render({ "security.privileged": "maybe" }), /security\.privileged/);
    refused(render({ "security.idmap.isolated": "false" }), /own id range/);
    refused(render({ "raw.lxc": "lxt.privileged = 1\n" }), /raw\.lxc: lxt\.privileged is managed/);
    refused(render({ "raw.lxc": "no equals sign\n" }), /Invalid config: raw\.lxc:1/);
    refused(
      render({}, { g: { type: "gpu" } }),
      /^Invalid devices: Device validation failed for "g": Unsupported device type$/,
    );
    refused(render({}, { n: { type: "nic", nictype: "p2p" } }), /Unsupported nictype "p2p"/);
    refused(
      render({}, { n: { type: "nic", network: "x", "security.mac_filtering": "true" } }),
      /Invalid device option "security\.mac_filtering"/,
    );
    refused(render({}, { d: { type: "disk", path: "/mnt" } }), /"source"/);
    refused(
      render({}, { p: { type: "proxy", listen: "tcp:0.0.0.0:80", connect: "udp:127.0.0.1:80" } }),
      /Invalid connect address/,
    );
    refused(render({}, { x: { path: "/y" } }), /Missing device type/);
  });

  test("a failing entry check is reported under the LXD key", () => {
    refused(
      () =>
        renderLxc({ config: { "limits.memory": "lots" }, devices: {} }, [], (k, v) => {
          if (k === "lxt.limits.memory" && v === "lots") throw new Error(`${k}: invalid value`);
        }),
      /^Invalid config: limits\.memory: lxt\.limits\.memory: invalid value$/,
    );
  });
});

describe("profiles and the local part", () => {
  const store = (profiles: Profile[]) => ({
    get: (n: string) => {
      const p = profiles.find((x) => x.name === n);
      if (!p) throw new ApiError(404, "Profile not found");
      return p;
    },
    find: (n: string) => profiles.find((x) => x.name === n),
  });
  const a: Profile = {
    name: "a",
    description: "",
    config: { "limits.memory": "1GiB", "raw.lxc": "lxc.tty.max = 4\n" },
    devices: { eth0: { type: "nic", network: "n1", name: "eth0" } },
  };
  const b: Profile = {
    name: "b",
    description: "",
    config: { "limits.memory": "2GiB", "limits.processes": "10" },
    devices: {},
  };

  test("later profiles and the instance win; raw.lxc lines add up", () => {
    const e = expandProfiles(store([a, b]), ["a", "b"], {
      config: { "limits.processes": "20", "raw.lxc": "lxc.pty.max = 9\n" },
      devices: {},
    });
    assert.deepEqual(e.config, {
      "limits.memory": "2GiB",
      "limits.processes": "20",
      "raw.lxc": "lxc.tty.max = 4\nlxc.pty.max = 9\n",
    });
    assert.deepEqual(e.devices, a.devices);
  });

  test("the local part is what the expanded config has beyond its profiles", () => {
    const s = store([a, b]);
    const own: LxdConfig = {
      config: { "limits.processes": "20", "raw.lxc": "lxc.pty.max = 9\n" },
      devices: { d1: { type: "disk", source: "/a", path: "/b" } },
    };
    const e = expandProfiles(s, ["a", "b"], own);
    const fromProfiles = expandProfiles(s, ["a", "b"], { config: {}, devices: {} });
    assert.deepEqual(localPart(e, fromProfiles), own);
  });
});

describe("config rewrite and rename helpers", () => {
  test("unchanged keys keep their lines and comments; changed ones move to the end", () => {
    const doc = ConfigDocument.parse(
      "# head\nlxc.uts.name = c1\n# about memory\nlxt.limits.memory = 1G\nlxc.tty.max = 1\n",
      "config",
    );
    const out = rewriteEntries(doc, [
      { key: "lxc.uts.name", value: "c1" },
      { key: "lxc.tty.max", value: "2" },
      { key: "lxc.environment", value: "A=1" },
      { key: "lxc.environment", value: "B=2" },
    ]).toString();
    assert.equal(
      out,
      "# head\nlxc.uts.name = c1\n# about memory\nlxc.tty.max = 2\nlxc.environment = A=1\nlxc.environment = B=2\n",
    );
  });

  test("a renamed container's config names its new directory and hostname", () => {
    const text = [
      "# keep me",
      "lxc.rootfs.path = overlayfs:/s/img/rootfs:/s/c1/delta",
      "lxc.uts.name = c1",
      "lxc.mount.entry = /s/c1/shared mnt none bind 0 0",
      "lxc.log.file = /s/c10/log",
      "",
    ].join("\n");
    assert.equal(
      relocateConfigText(text, "/s/c1", "/s/c2", { from: "c1", to: "c2" }),
      [
        "# keep me",
        "lxc.rootfs.path = overlayfs:/s/img/rootfs:/s/c2/delta",
        "lxc.uts.name = c2",
        "lxc.mount.entry = /s/c2/shared mnt none bind 0 0",
        "lxc.log.file = /s/c10/log",
        "",
      ].join("\n"),
    );
  });
});
