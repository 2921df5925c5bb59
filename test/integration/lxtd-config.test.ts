/**
 * lxtd's instance config, devices and profiles, driven by the stock LXD
 * client: `config set/unset/show/edit`, `config device add`, limits applied
 * live on a running container, refusals that change nothing, `profile
 * list/show/create/edit/delete`, `launch -p`, `move` (rename); the CLI
 * sees each change in the LXC config.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse } from "yaml";
import { readCgroupLayout } from "../../src/cgroups/layout.js";
import { controllerVersion } from "../../src/cgroups/limits.js";
import { nodeCgroupFs } from "../../src/host/cgroup-fs.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

const MiB = 1024 * 1024;

describe("lxtd: instance config, devices and profiles", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let host: string;
  let memMax = "memory.max";
  before(async () => {
    box = new LxtdSandbox();
    host = mkdtempSync(join(tmpdir(), "lxt-cfgdev-"));
    chmodSync(host, 0o755); // the unprivileged container's root passes through it
    if (controllerVersion(readCgroupLayout(nodeCgroupFs), "memory") === 1)
      memMax = "memory.limit_in_bytes";
    await box.startDaemon();
  });
  after(async () => {
    await box.close();
    rmSync(host, { recursive: true, force: true });
  });

  const show = (c: string, expanded = false) =>
    parse(box.lxcOk(["config", "show", c, ...(expanded ? ["--expanded"] : [])])) as {
      config: Record<string, string>;
      devices: Record<string, Record<string, string>>;
      profiles: string[];
    };
  const configText = (c: string) => readFileSync(join(box.lxcpath, c, "config"), "utf8");
  /** One request on the daemon's socket. */
  const call = (
    method: string,
    path: string,
    o: { body?: string; headers?: Record<string, string> } = {},
  ) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = request(
          {
            socketPath: box.socket,
            method,
            path,
            headers: { "content-type": "application/json", ...o.headers },
          },
          (res) => {
            let body = "";
            res.on("data", (b: Buffer) => {
              body += b.toString();
            });
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
            );
          },
        );
        req.on("error", reject);
        req.end(o.body);
      },
    );
  const cg = (c: string, file: string) => box.ok(["cgroup", "-n", c, file]).trim();

  test("config set/unset on a stopped instance: the LXC config and lxt config get follow", () => {
    const c = box.name("cfg");
    box.lxcOk(["init", "busybox", c]);
    box.lxcOk(["config", "set", c, "limits.memory", "64MiB"]);
    box.lxcOk(["config", "set", c, "limits.processes=50"]);
    box.lxcOk(["config", "set", c, "environment.GREETING", "hello"]);
    box.lxcOk(["config", "set", c, "user.note", "kept by lxtd"]);
    const cfg = show(c).config;
    assert.equal(cfg["limits.memory"], "64MiB");
    assert.equal(cfg["limits.processes"], "50");
    assert.equal(cfg["environment.GREETING"], "hello");
    assert.equal(cfg["user.note"], "kept by lxtd");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.memory"]).trim(), "64MiB");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.processes"]).trim(), "50");
    assert.equal(box.ok(["config", "get", c, "lxc.environment"]).trim(), "GREETING=hello");
    box.lxcOk(["config", "unset", c, "limits.processes"]);
    assert.equal(show(c).config["limits.processes"], undefined);
    assert.doesNotMatch(configText(c), /lxt\.limits\.processes/);
    // What the CLI sets, the client shows.
    box.ok(["config", "set", c, "lxt.limits.cpu", "2"]);
    assert.equal(show(c).config["limits.cpu"], "2");
    box.lxcOk(["delete", c]);
  });

  test("limits change live on a running instance (the cgroup files), and go back on unset", () => {
    const c = box.name("live");
    box.lxcOk(["launch", "busybox", c]);
    box.lxcOk(["config", "set", c, "limits.memory", "96MiB"]);
    assert.equal(cg(c, memMax), String(96 * MiB));
    box.lxcOk(["config", "set", c, "limits.processes", "33"]);
    assert.equal(cg(c, "pids.max"), "33");
    box.lxcOk(["config", "unset", c, "limits.processes"]);
    assert.equal(cg(c, "pids.max"), "max");
    assert.equal(cg(c, memMax), String(96 * MiB), "the other limit stays");
    box.lxcOk(["delete", "-f", c]);
  });

  test("an unknown key, a bad value and a bad raw.lxc line are refused with nothing changed", () => {
    const c = box.name("bad");
    box.lxcOk(["init", "busybox", c]);
    const before = configText(c);
    const unknown = box.lxc(["config", "set", c, "limits.frobnicate", "1"]);
    assert.notEqual(unknown.code, 0);
    assert.match(
      unknown.stderr,
      /Invalid config: Unknown configuration key: limits\.frobnicate/,
      unknown.stderr,
    );
    const bad = box.lxc(["config", "set", c, "limits.memory", "lots"]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /limits\.memory: .*lots/, bad.stderr);
    const raw = box.lxc(["config", "set", c, "raw.lxc", "lxc.no.such.key = 1"]);
    assert.notEqual(raw.code, 0);
    assert.match(raw.stderr, /raw\.lxc: .*unknown key lxc\.no\.such\.key/, raw.stderr);
    const dev = box.lxc(["config", "device", "add", c, "gpu0", "gpu"]);
    assert.notEqual(dev.code, 0);
    assert.match(dev.stderr, /Device validation failed for "gpu0": Unsupported device type/);
    assert.equal(configText(c), before, "the LXC config is untouched");
    box.lxcOk(["delete", c]);
  });

  test("config device add disk: bind-mounted after a restart, read-only when asked", () => {
    const c = box.name("disk");
    const src = join(host, "x");
    box.lxcOk(["launch", "busybox", c]);
    mkdirSync(src);
    writeFileSync(join(src, "hello"), "from the host\n");
    assert.match(
      box.lxcOk(["config", "device", "add", c, "d1", "disk", `source=${src}`, "path=/mnt/x"]),
      /Device d1 added/,
    );
    assert.deepEqual(show(c).devices.d1, { type: "disk", source: src, path: "/mnt/x" });
    assert.match(configText(c), new RegExp(`lxc.mount.entry = ${src} mnt/x none bind,create=dir`));
    box.lxcOk(["restart", c, "--force"]);
    assert.equal(box.ok(["attach", "-n", c, "--", "cat", "/mnt/x/hello"]).trim(), "from the host");
    box.lxcOk(["config", "device", "set", c, "d1", "readonly=true"]);
    box.lxcOk(["restart", c, "--force"]);
    const w = box.lxt(["attach", "-n", c, "--", "touch", "/mnt/x/new"]);
    assert.notEqual(w.code, 0, "a readonly disk refuses writes");
    box.lxcOk(["config", "device", "remove", c, "d1"]);
    assert.doesNotMatch(configText(c), /lxc\.mount\.entry/);
    box.lxcOk(["delete", "-f", c]);
  });

  test("config edit from stdin replaces the config in one step", () => {
    const c = box.name("edit");
    box.lxcOk(["init", "busybox", c]);
    const cur = show(c);
    const yaml = [
      "config:",
      '  limits.memory: "128MiB"',
      '  limits.cpu.allowance: "50ms/100ms"',
      '  boot.autostart.priority: "0"',
      "  raw.lxc: |",
      ...(cur.config["raw.lxc"]
        ?.trimEnd()
        .split("\n")
        .map((l) => `    ${l}`) ?? []),
      "devices: {}",
      "profiles:",
      "- default",
      "description: edited",
    ].join("\n");
    box.lxcOk(["config", "edit", c], { input: yaml });
    const after = show(c).config;
    assert.equal(after["limits.memory"], "128MiB");
    assert.equal(after["limits.cpu.allowance"], "50ms/100ms");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.cpu"]).trim(), "0.5");
    const refused = box.lxc(["config", "edit", c], { input: "config:\n  security.frob: x\n" });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /Unknown configuration key: security\.frob/);
    assert.equal(show(c).config["limits.memory"], "128MiB", "nothing changed");
    box.lxcOk(["delete", c]);
  });

  test("profiles: create, edit (reaching its instances), launch -p, delete when unused", () => {
    const p = box.name("prof");
    const c = box.name("withp");
    box.lxcOk(["profile", "create", p]);
    assert.match(box.lxcOk(["profile", "list"]), new RegExp(`\\| ${p}\\s+\\|`));
    box.lxcOk(["profile", "edit", p], {
      input: 'description: small\nconfig:\n  limits.processes: "70"\ndevices: {}\n',
    });
    const shown = parse(box.lxcOk(["profile", "show", p])) as {
      config: Record<string, string>;
      used_by: string[];
    };
    assert.equal(shown.config["limits.processes"], "70");
    box.lxcOk(["launch", "busybox", c, "-p", "default", "-p", p]);
    assert.deepEqual(show(c).profiles, ["default", p]);
    assert.equal(show(c).config["limits.processes"], undefined, "from the profile, not its own");
    assert.equal(show(c, true).config["limits.processes"], "70");
    assert.equal(cg(c, "pids.max"), "70");
    assert.deepEqual((parse(box.lxcOk(["profile", "show", p])) as { used_by: string[] }).used_by, [
      `/1.0/instances/${c}`,
    ]);
    // An edit reaches the running instance, live.
    box.lxcOk(["profile", "set", p, "limits.processes", "71"]);
    assert.equal(cg(c, "pids.max"), "71");
    assert.equal(box.ok(["config", "get", c, "lxt.limits.processes"]).trim(), "71");
    // A profile edit one instance cannot take is refused whole.
    const bad = box.lxc(["profile", "set", p, "limits.memory", "lots"]);
    assert.notEqual(bad.code, 0);
    assert.equal(
      (parse(box.lxcOk(["profile", "show", p])) as { config: Record<string, string> }).config[
        "limits.memory"
      ],
      undefined,
    );
    const inUse = box.lxc(["profile", "delete", p]);
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /Profile is currently in use/);
    const dflt = box.lxc(["profile", "delete", "default"]);
    assert.match(dflt.stderr, /The "default" profile cannot be deleted/);
    box.lxcOk(["delete", "-f", c]);
    box.lxcOk(["profile", "delete", p]);
    assert.doesNotMatch(box.lxcOk(["profile", "list"]), new RegExp(p));
  });

  test("PUT checks If-Match: a stale ETag is 412 and changes nothing", async () => {
    const c = box.name("etag");
    box.lxcOk(["init", "busybox", c]);
    const get = await call("GET", `/1.0/instances/${c}`);
    const etag = get.headers.etag as string;
    assert.ok(etag, "GET sends an ETag");
    const body = JSON.parse(get.body).metadata;
    const put = (tag: string) =>
      call("PUT", `/1.0/instances/${c}`, {
        body: JSON.stringify({ ...body, config: { ...body.config, "limits.processes": "9" } }),
        headers: { "if-match": tag },
      });
    const stale = await put('"0000"');
    assert.equal(stale.status, 412, stale.body);
    assert.equal(show(c).config["limits.processes"], undefined);
    const fresh = await put(etag);
    assert.equal(fresh.status, 202, fresh.body);
    assert.equal(show(c).config["limits.processes"], "9");
    box.lxcOk(["delete", c]);
  });

  test("move renames a stopped instance with its config; a running one is refused", () => {
    const a = box.name("mva");
    const b = box.name("mvb");
    box.lxcOk(["launch", "busybox", a]);
    box.lxcOk(["config", "set", a, "user.tag", "moved"]);
    const running = box.lxc(["move", a, b]);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /Renaming of running container not allowed/);
    box.lxcOk(["stop", a, "--force"]);
    box.lxcOk(["move", a, b]);
    assert.match(box.ok(["ls", "-1"]), new RegExp(`^${b}$`, "m"));
    assert.doesNotMatch(box.ok(["ls", "-1"]), new RegExp(`^${a}$`, "m"));
    assert.equal(show(b).config["user.tag"], "moved");
    assert.match(configText(b), new RegExp(`lxc.rootfs.path = dir:${box.lxcpath}/${b}/rootfs`));
    assert.match(configText(b), new RegExp(`lxc.uts.name = ${b}`));
    box.lxcOk(["start", b]);
    assert.equal(box.ok(["attach", "-n", b, "--", "hostname"]).trim(), b);
    box.lxcOk(["delete", "-f", b]);
  });
});
