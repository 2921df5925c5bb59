import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  CRIU_INET_MIN,
  CRIU_LAZY_PIPE_BYTES,
  criuInetProblem,
  criuItems,
  criuNewEnough,
  criuProblem,
  criuUsable,
  criuUsernsProblem,
  lazyServerItem,
  lazyServerProblem,
  parseCriuVersion,
  probeCriu,
} from "../../src/container/criu.js";
import { LxtError } from "../../src/core/errors.js";
import { RecordingRunner } from "../../src/host/runner.js";

describe("criu probe", () => {
  test("versions: parsed from criu --version, 4.1 and later are new enough", () => {
    assert.equal(parseCriuVersion("Version: 4.1.1\n"), "4.1.1");
    assert.equal(parseCriuVersion("Version: 3.17.1\nGitID: v3.17.1\n"), "3.17.1");
    assert.equal(parseCriuVersion("criu, who knows"), undefined);
    assert.equal(criuNewEnough("4.1"), true);
    assert.equal(criuNewEnough("4.1.1"), true);
    assert.equal(criuNewEnough("5.0"), true);
    assert.equal(criuNewEnough("4.0.9"), false);
    assert.equal(criuNewEnough("3.17.1"), false);
    assert.equal(criuNewEnough(undefined), false);
  });

  test("a working 4.1.1 without soft-dirty: usable, pre-dump reported missing", async () => {
    const run = new RecordingRunner((argv) => {
      if (argv[1] === "--version") return "Version: 4.1.1\n";
      if (argv.includes("mem_dirty_track"))
        return new LxtError(
          "system",
          "criu check --feature mem_dirty_track: Dirty tracking is OFF",
        );
      return "Looks good.\n";
    });
    const s = await probeCriu(run);
    assert.deepEqual(s, {
      found: true,
      version: "4.1.1",
      checkOk: true,
      dirtyTracking: false,
      lazyPages: true,
    });
    assert.equal(criuUsable(s), true);
    assert.equal(criuProblem(s), undefined);
    const items = criuItems(s);
    assert.deepEqual(
      items.map((i) => [i.name, i.status]),
      [
        ["criu", "enabled"],
        ["criu check", "enabled"],
        ["criu: containers with NICs", "missing"],
        ["pre-dump (soft-dirty)", "missing"],
        ["lazy pages (userfaultfd)", "enabled"],
      ],
    );
    assert.deepEqual(run.calls, [
      ["criu", "--version"],
      ["criu", "check"],
      ["criu", "check", "--feature", "mem_dirty_track"],
      ["criu", "check", "--feature", "uffd-noncoop"],
    ]);
  });

  test("Debian 12's 3.17.1, failing check: not usable, the reason names the version and the kernel's vDSO", async () => {
    const run = new RecordingRunner((argv) =>
      argv[1] === "--version"
        ? "Version: 3.17.1\n"
        : new LxtError(
            "system",
            "criu check: Error (criu/vdso.c:251): vdso: Unexpected rt vDSO area bounds",
          ),
    );
    const s = await probeCriu(run);
    assert.equal(criuUsable(s), false);
    assert.match(criuProblem(s) ?? "", /criu 3\.17\.1 is older than 4\.1.*vDSO/);
    assert.equal(s.checkError, "Error (criu/vdso.c:251): vdso: Unexpected rt vDSO area bounds");
    const check = criuItems(s).find((i) => i.name === "criu");
    assert.deepEqual([check?.status, check?.detail], ["missing", "version 3.17.1 (needs 4.1)"]);
  });

  test("4.1 dumps no TCP/UDP socket on kernels from 6.16: containers with NICs need 4.2", () => {
    assert.match(
      criuInetProblem("4.1.1") ?? "",
      /criu 4\.1\.1 dumps no TCP or UDP socket.*need criu 4\.2/,
    );
    assert.equal(criuInetProblem("4.2.1"), undefined);
    assert.equal(criuInetProblem("5.0"), undefined);
    assert.match(criuInetProblem(undefined) ?? "", /unknown version/);
    assert.equal(criuNewEnough("4.2.1", CRIU_INET_MIN), true);
    assert.equal(criuNewEnough("4.1.9", CRIU_INET_MIN), false);
    assert.match(criuUsernsProblem("4.1.1") ?? "", /unprivileged containers .* criu 4\.2 or later/);
    assert.equal(criuUsernsProblem("4.2.1"), undefined);
  });

  test("no criu: one item saying how to get it", async () => {
    const run = new RecordingRunner(() => new LxtError("host", "criu: not installed"));
    const s = await probeCriu(run);
    assert.equal(s.found, false);
    assert.match(criuProblem(s) ?? "", /not installed \(scripts\/criu\.sh/);
    assert.deepEqual(
      criuItems(s).map((i) => [i.name, i.status, i.detail]),
      [["criu", "missing", "not installed (scripts/criu.sh)"]],
    );
    assert.deepEqual(run.calls, [["criu", "--version"]]);
  });

  test("lazy pages' page server: its 4 MiB pipe needs fs.pipe-max-size or CAP_SYS_RESOURCE", () => {
    // criu's PIPE_MAX_SIZE (819 pages) rounded up to a power of two pages, as the kernel does.
    assert.equal(CRIU_LAZY_PIPE_BYTES, 2 ** Math.ceil(Math.log2(819)) * 4096);
    const refused = lazyServerProblem(1048576, false);
    assert.match(refused ?? "", /fs\.pipe-max-size is 1048576 .*without CAP_SYS_RESOURCE/);
    assert.match(refused ?? "", /page-pipe: splice: -1: Bad file descriptor/);
    assert.match(refused ?? "", /fs\.pipe-max-size = 4194304/);
    assert.match(lazyServerProblem(undefined, false) ?? "", /is unreadable/);
    assert.equal(lazyServerProblem(2097152, false) !== undefined, true);
    assert.equal(lazyServerProblem(4194304, false), undefined);
    assert.equal(lazyServerProblem(1048576, true), undefined);
    assert.deepEqual(
      [lazyServerItem(refused).status, lazyServerItem(refused).detail],
      ["missing", refused],
    );
    assert.equal(lazyServerItem(undefined).status, "enabled");
  });
});
