import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { overlayDependents, overlayDependentsShared } from "../../src/container/storage.js";
import { testContext } from "./support/context.js";

/** A state root: `base` (dir), `c1` (overlay over base's rootfs), `c2` (dir), `c3` with a snapshot over base. */
function stateRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "lxt-deps-"));
  const container = (name: string, rootfs: string, dir = join(root, name)) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config"), `lxc.rootfs.path = ${rootfs}\n`);
  };
  container("base", `dir:${root}/base/rootfs`);
  container("c1", `overlay:${root}/base/rootfs:${root}/c1/overlay/delta`);
  container("c2", `dir:${root}/c2/rootfs`);
  container("c3", `dir:${root}/c3/rootfs`);
  container(
    "snap0",
    `overlay:${root}/base/rootfs:${root}/c3/snaps/snap0/overlay/delta`,
    join(root, "c3/snaps/snap0"),
  );
  return root;
}

describe("overlay dependents", () => {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it("a shared scan answers every caller of a turn as a scan of its own would", async () => {
    const root = stateRoot();
    roots.push(root);
    const ctx = testContext();
    const dirs = ["base", "c1", "c2", "c3"].map((n) => join(root, n));
    const alone = dirs.map((d) => overlayDependents(ctx, root, d));
    assert.deepEqual(alone[0]?.sort(), ["c1", "c3/snap0"]);
    assert.deepEqual(alone.slice(1), [[], [], []]);
    const shared = await Promise.all(dirs.map((d) => overlayDependentsShared(ctx, root, d)));
    assert.deepEqual(
      shared.map((s) => s.sort()),
      alone.map((s) => s.sort()),
    );
  });

  it("a scan runs after the callers' turn: what changed before it is seen", async () => {
    const root = stateRoot();
    roots.push(root);
    const ctx = testContext();
    const asked = overlayDependentsShared(ctx, root, join(root, "c2"));
    // Made after the question, in the same turn (as a clone made under the lock would be before it).
    mkdirSync(join(root, "c4"));
    writeFileSync(
      join(root, "c4/config"),
      `lxc.rootfs.path = overlay:${root}/c2/rootfs:${root}/c4/d\n`,
    );
    assert.deepEqual(await asked, ["c4"]);
    // The next turn scans again.
    rmSync(join(root, "c4"), { recursive: true });
    assert.deepEqual(await overlayDependentsShared(ctx, root, join(root, "c2")), []);
  });
});
