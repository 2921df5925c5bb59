/**
 * The stock client's `lxc move` / `lxc copy` between two remotes, both
 * lxtd: LXD's migration protocol is refused at once with an error naming
 * lxt's own form (docs/migrate.md), not a hang; the container stays.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { skipReason } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

const skip = skipReason();
if (skip) console.log(skip);

describe("lxc move/copy to another lxtd remote", { skip, timeout: 180_000 }, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--https", "127.0.0.1:0"]);
    box.lxcOk(["config", "set", "core.trust_password", "SECRET"]);
    // The same daemon as a second remote: to the client, two servers.
    box.remoteAddByPassword("r1", box.httpsAddress(), "SECRET");
  });
  after(async () => {
    await box?.close();
  });

  test("move and copy answer with lxt's form at once; the container stays", () => {
    const c = box.name("mig");
    box.lxcOk(["init", "busybox", c]);
    for (const verb of ["move", "copy"]) {
      const t0 = Date.now();
      const r = box.lxc([verb, c, `r1:${c}-2`], { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0, `${verb}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /Migration over LXD's protocol is not supported by lxt: move it with "lxt move NAME REMOTE:"/,
      );
      assert.ok(Date.now() - t0 < 30_000, `${verb} answered in ${Date.now() - t0} ms`);
    }
    assert.match(
      box.lxcOk(["list", "--format", "csv", "-c", "ns"]),
      new RegExp(`^${c},STOPPED$`, "m"),
    );
    box.lxcOk(["delete", c]);
  });
});
