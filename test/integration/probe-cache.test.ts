/**
 * The idmapped-mount probe runs once per filesystem: its verdict is kept
 * under the runtime directory and the next start uses it. Runs with its own
 * runtime directory (LXT_RUNDIR), so the host-wide cache is not touched.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { probeCacheDir } from "../../src/container/paths.js";
import { Sandbox, skipReason } from "./harness.js";

const skip = skipReason();
if (skip) console.log(skip);

describe("idmap probe cache", { skip, timeout: 120_000 }, () => {
  let box: Sandbox;
  let rundir: string;
  const oldRundir = process.env.LXT_RUNDIR;
  const owner = (n: string) => /Rootfs owner:\s+(\S+)/.exec(box.ok(["info", "-n", n]))?.[1];

  before(() => {
    rundir = mkdtempSync(join(tmpdir(), "lxt-run-"));
    process.env.LXT_RUNDIR = rundir;
    box = new Sandbox();
  });
  after(() => {
    box.cleanup();
    if (oldRundir === undefined) delete process.env.LXT_RUNDIR;
    else process.env.LXT_RUNDIR = oldRundir;
    rmSync(rundir, { recursive: true, force: true });
  });

  test("the first start probes and keeps the verdict; the next one goes by it", () => {
    const c = box.name("probe");
    box.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
    box.ok(["start", "-n", c]);
    const dir = probeCacheDir(rundir);
    assert.ok(dir.startsWith(rundir), dir);
    const files = readdirSync(dir);
    assert.equal(files.length, 1, `one verdict for the one filesystem: ${files}`);
    const file = join(dir, files[0] as string);
    const verdict = readFileSync(file, "utf8");
    const first = owner(c);
    // What the probe said is what the start did.
    assert.equal(verdict === "ok\n" ? "idmapped" : "shifted", first, verdict);
    box.ok(["stop", "-n", c, "-k"]);
    if (first !== "idmapped") return;

    // A refusal on record: the next start believes it (no probe) and shifts the tree.
    writeFileSync(file, `no error idmap mount_setattr ${box.lxcpath} 22\n`);
    box.ok(["start", "-n", c]);
    assert.equal(owner(c), "shifted");
    assert.equal(box.ok(["attach", "-n", c, "--", "stat", "-c", "%u", "/bin/busybox"]).trim(), "0");
    box.ok(["stop", "-n", c, "-k"]);

    box.ok(["destroy", "-n", c]);

    // A verdict that is not one (e.g. a truncated file) is probed again and rewritten.
    const c2 = box.name("probe");
    box.ok(["create", "-n", c2, "-t", "busybox", "--network", "empty"]);
    writeFileSync(file, "");
    box.ok(["start", "-n", c2]);
    assert.equal(readFileSync(file, "utf8"), "ok\n");
    assert.equal(owner(c2), "idmapped");
    box.ok(["destroy", "-f", "-n", c2]);
  });
});
