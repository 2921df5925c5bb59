import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfigText, type ResolveOptions, resolveConfig } from "../../src/config/index.js";
import { hookEnvironment } from "../../src/config/lifecycle.js";
import {
  type AutostartCandidate,
  parseGroupArgs,
  selectAutostart,
} from "../../src/container/autostart.js";
import { LxtError } from "../../src/core/errors.js";

const OPTS: ResolveOptions = { cgroupLayout: "v2", env: { HOME: "/home/u" }, arch: "x86_64" };
const resolve = (text: string) => resolveConfig(parseConfigText(text, "c.conf"), OPTS);

describe("autostart keys", () => {
  it("resolve with LXC's defaults, blank-separated groups, and clears", () => {
    assert.deepEqual(resolve("").autostart, { auto: false, delay: 0, order: 0, groups: [] });
    const a = resolve(
      "lxc.start.auto = 1\nlxc.start.delay = 5\nlxc.start.order = -3\nlxc.group = web onboot\nlxc.group = db\tweb\n",
    ).autostart;
    assert.deepEqual(a, { auto: true, delay: 5, order: -3, groups: ["web", "onboot", "db"] });
    assert.deepEqual(resolve("lxc.group = a\nlxc.group =\nlxc.group = b\n").autostart.groups, [
      "b",
    ]);
    assert.deepEqual(resolve("lxc.start.auto = 1\nlxc.start.auto =\n").autostart.auto, false);
  });
  it("refuse bad values naming file and line", () => {
    for (const [text, msg] of [
      ["lxc.start.auto = 2\n", "lxc.start.auto"],
      ["lxc.start.delay = -1\n", "lxc.start.delay"],
      ["lxc.start.order = x\n", "lxc.start.order"],
    ] as const) {
      assert.throws(
        () => resolve(text),
        (e: unknown) => e instanceof LxtError && e.message.startsWith(`c.conf:1: ${msg}`),
        text,
      );
    }
  });
});

describe("hook keys", () => {
  it("collect commands per type, version, and the hooks' environment", () => {
    const h = resolve(
      [
        "lxc.hook.pre-start = /bin/true a",
        "lxc.hook.mount = /m1",
        "lxc.hook.mount = /m2",
        "lxc.hook.version = 1",
        "lxc.environment = A=1",
        "lxc.environment.runtime = R=1",
        "lxc.environment.hooks = B=2",
        "lxc.environment.hooks = HOME",
        "lxc.environment.hooks = A=3",
      ].join("\n"),
    ).hooks;
    assert.equal(h.version, 1);
    assert.deepEqual(h.commands["pre-start"], ["/bin/true a"]);
    assert.deepEqual(h.commands.mount, ["/m1", "/m2"]);
    assert.deepEqual(h.commands.stop, []);
    assert.deepEqual(hookEnvironment(h), ["A=3", "B=2", "HOME=/home/u"]);
  });
  it("clear: lxc.hook.TYPE = and lxc.hook =", () => {
    const one = resolve("lxc.hook.stop = /a\nlxc.hook.mount = /b\nlxc.hook.stop =\n").hooks;
    assert.deepEqual([one.commands.stop, one.commands.mount], [[], ["/b"]]);
    const all = resolve("lxc.hook.stop = /a\nlxc.hook.mount = /b\nlxc.hook =\n").hooks;
    assert.deepEqual([all.commands.stop, all.commands.mount], [[], []]);
  });
  it("refuse a bad version and an unset inherited variable", () => {
    assert.throws(() => resolve("lxc.hook.version = 2\n"), /c\.conf:1: lxc\.hook\.version/);
    assert.throws(
      () => resolve("lxc.environment.hooks = NOPE_UNSET\n"),
      /c\.conf:1: lxc\.environment\.hooks: NOPE_UNSET is not set/,
    );
  });
});

const c = (name: string, o: Partial<AutostartCandidate> = {}): AutostartCandidate => ({
  name,
  auto: true,
  delay: 0,
  order: 0,
  groups: [],
  running: false,
  ...o,
});

describe("autostart selection (lxc_autostart.c's passes)", () => {
  const all = [
    c("b", { order: 1 }),
    c("a", { order: 1 }),
    c("z", { order: -1 }),
    c("web", { groups: ["web"] }),
    c("both", { groups: ["onboot", "web"], order: 9 }),
    c("off", { auto: false }),
  ];
  const names = (x: AutostartCandidate[]) => x.map((y) => y.name);
  const none = { all: false, ignoreAuto: false, groups: [] };
  it("-g accumulates comma lists; empty items are the NULL group; repeats count once", () => {
    assert.deepEqual(parseGroupArgs(["onboot,"]), ["onboot", ""]);
    assert.deepEqual(parseGroupArgs(["dns,web,,onboot"]), ["dns", "web", "", "onboot"]);
    assert.deepEqual(parseGroupArgs(["dns", "web", "", "onboot", "web"]), [
      "dns",
      "web",
      "",
      "onboot",
    ]);
    assert.deepEqual(parseGroupArgs([]), []);
  });
  it("by default the NULL group, by order then name; stops reversed", () => {
    assert.deepEqual(names(selectAutostart(all, none, "start")), ["z", "a", "b"]);
    const running = all.map((x) => ({ ...x, running: true }));
    assert.deepEqual(names(selectAutostart(running, none, "shutdown")), ["b", "a", "z"]);
    assert.deepEqual(names(selectAutostart(running, none, "kill")), ["b", "a", "z"]);
    assert.deepEqual(names(selectAutostart(running, none, "reboot")), ["z", "a", "b"]);
    assert.deepEqual(names(selectAutostart(running, none, "start")), [], "running: not started");
  });
  it("groups in the order given, each container once; -a ignores groups; -A ignores auto", () => {
    const g = (groups: string[]) => ({ ...none, groups });
    assert.deepEqual(names(selectAutostart(all, g(["web", ""]), "start")), [
      "web",
      "both",
      "z",
      "a",
      "b",
    ]);
    assert.deepEqual(names(selectAutostart(all, g(["onboot", "web"]), "start")), ["both", "web"]);
    assert.deepEqual(names(selectAutostart(all, { ...none, all: true }, "start")), [
      "z",
      "web",
      "a",
      "b",
      "both",
    ]);
    assert.deepEqual(
      names(selectAutostart(all, { all: true, ignoreAuto: true, groups: ["web"] }, "start")),
      ["z", "off", "web", "a", "b", "both"],
    );
  });
});
