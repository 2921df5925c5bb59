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

  // Set by the first test: the one verdict file and what it said.
  let file = "";
  let verdict = "";

  test("the first start probes and keeps the verdict; ownership follows it", () => {
    const c = box.name("probe");
    box.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
    box.ok(["start", "-n", c]);
    const dir = probeCacheDir(rundir);
    assert.ok(dir.startsWith(rundir), dir);
    const files = readdirSync(dir);
    assert.equal(files.length, 1, `one verdict for the one filesystem: ${files}`);
    file = join(dir, files[0] as string);
    verdict = readFileSync(file, "utf8");
    assert.match(verdict, /^(ok|no .+)\n$/);
    // What the probe said is what the start did.
    assert.equal(owner(c), verdict === "ok\n" ? "idmapped" : "shifted", verdict);
    box.ok(["destroy", "-f", "-n", c]);
  });

  test("a refusal on record: the next start believes it (no probe) and shifts the tree", () => {
    const c = box.name("probe");
    box.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
    const refusal = `no error idmap mount_setattr ${box.lxcpath} 22\n`;
    writeFileSync(file, refusal);
    box.ok(["start", "-n", c]);
    assert.equal(owner(c), "shifted");
    assert.equal(box.ok(["attach", "-n", c, "--", "stat", "-c", "%u", "/bin/busybox"]).trim(), "0");
    assert.equal(readFileSync(file, "utf8"), refusal, "not probed again");
    box.ok(["destroy", "-f", "-n", c]);
  });

  test("a verdict that is not one (a truncated file) is probed again and rewritten", () => {
    const c = box.name("probe");
    box.ok(["create", "-n", c, "-t", "busybox", "--network", "empty"]);
    writeFileSync(file, "");
    box.ok(["start", "-n", c]);
    assert.equal(readFileSync(file, "utf8"), verdict, "the same filesystem, the same verdict");
    assert.equal(owner(c), verdict === "ok\n" ? "idmapped" : "shifted");
    box.ok(["destroy", "-f", "-n", c]);
  });
});
