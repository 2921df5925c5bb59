import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DEFAULT_LXCPATH, DEFAULT_RUNDIR, probeCacheDir } from "../../src/container/paths.js";
import { runtimeRoot } from "../../src/core/context.js";
import { hostLeftovers, skipReason } from "./harness.js";

const skip = skipReason();

/** Runs last (file order): the whole suite must leave the host as it found it. */
test("the suite left no mounts, cgroups, processes or runtime files", { skip }, () => {
  assert.deepEqual(hostLeftovers("lxt"), []);
  const run = process.env.LXT_RUNDIR || DEFAULT_RUNDIR;
  const left: string[] = [];
  if (existsSync(run)) {
    for (const root of readdirSync(run)) {
      // The idmap probe's per-filesystem verdicts are a host-wide cache, not a container's.
      if (join(run, root) === probeCacheDir(run)) continue;
      // The host's own state root (setup's demo uses it) keeps its locks between commands;
      // a test's state root is gone by now, so its runtime directory must be too.
      if (join(run, root) === runtimeRoot(run, DEFAULT_LXCPATH)) {
        for (const e of readdirSync(join(run, root)))
          if (e !== "locks") left.push(join(run, root, e));
      } else left.push(join(run, root));
    }
  }
  assert.deepEqual(left, []);
});
