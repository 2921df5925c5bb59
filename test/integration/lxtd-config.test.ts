/**
 * lxtd's instance config, devices and profiles driven by the stock LXD
 * client: `config set/unset/show/edit`, `config device add`, limits live on
 * a running container, refusals that change nothing, `profile
 * list/show/create/edit/delete`, `launch -p`, `move` (rename).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

describe("lxtd: instance config, devices and profiles", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let host: string;
  before(async () => {
    box = new LxtdSandbox();
    host = mkdtempSync(join(tmpdir(), "lxt-cfgdev-"));
    await box.startDaemon();
  });
  after(async () => {
    await box.close();
    rmSync(host, { recursive: true, force: true });
  });

  test("scratch", () => {
    const c = box.name("cfg");
    box.lxcOk(["init", "busybox", c]);
    console.log(box.lxcOk(["config", "show", c]));
    box.lxcOk(["config", "set", c, "limits.memory", "64MiB"]);
    console.log(box.lxcOk(["config", "show", c]));
    console.log(readFileSync(join(box.lxcpath, c, "config"), "utf8"));
    box.lxcOk(["delete", "-f", c]);
  });
});
