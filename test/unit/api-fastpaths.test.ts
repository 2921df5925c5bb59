/**
 * The pure parts of lxtd's fast paths: the attach server's request and
 * exit lines, operation records rewritten in place, parsed profiles kept
 * by file identity (and never stale).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { OperationStore } from "../../src/api/operation-store.js";
import type { OperationJson } from "../../src/api/operations.js";
import { ProfileStore } from "../../src/api/profiles.js";
import { attachRequest, ControlReader, parseExitLine } from "../../src/host/attach-server.js";

test("attach server: the request is its line, then every argument NUL-ended", () => {
  const r = attachRequest(
    "7",
    ["--pid", "12", "--env", "A=b c", "--", "true"],
    [false, true, true],
  );
  const body = "--pid\0" + "12\0--env\0A=b c\0--\0true\0";
  assert.equal(r.toString(), `attach 7 ${Buffer.byteLength(body)} 12\n${body}`);
  assert.match(attachRequest("8", ["x"], [false, false, false]).toString(), /^attach 8 2 -\n/);
  // Lengths are bytes, not characters.
  assert.match(attachRequest("9", ["é"], [true, false, false]).toString(), /^attach 9 3 0\n/);
});

test("attach server: the exit line", () => {
  assert.equal(parseExitLine("exit 0"), 0);
  assert.equal(parseExitLine("exit 137"), 137);
  assert.equal(parseExitLine("exit"), undefined);
  assert.equal(parseExitLine("error attach setns % 1"), undefined);
  assert.equal(parseExitLine("exit 1234"), undefined);
});

function op(id: string, status: OperationJson["status"], metadata: Record<string, unknown>) {
  return {
    id,
    class: "task",
    description: "Executing command",
    created_at: "2026-12-07T00:00:00Z",
    updated_at: "2026-12-07T00:00:00Z",
    status,
    status_code: 0,
    resources: null,
    metadata,
    may_cancel: false,
    err: "",
    location: "none",
  } satisfies OperationJson;
}

test("operation records: rewritten in place, a shorter text padded, the final one whole", () => {
  const dir = mkdtempSync(join(tmpdir(), "lxt-unit-opstore-"));
  try {
    const store = new OperationStore(dir);
    const id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    const file = join(dir, `${id}.json`);
    store.write(op(id, "Pending", { long: "x".repeat(300) }));
    const ino = statSync(file).ino;
    store.write(op(id, "Running", {}));
    assert.equal(statSync(file).ino, ino, "the same file, rewritten in place");
    assert.equal(JSON.parse(readFileSync(file, "utf8")).status, "Running");
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")).metadata, {});
    store.write(op(id, "Success", { return: 0 }));
    assert.equal(JSON.parse(readFileSync(file, "utf8")).status, "Success");
    assert.deepEqual(
      store.readAll().map((r) => r.status),
      ["Success"],
    );
    // One too big for one page is written whole (a new file), as are its later changes.
    const big = "0f8fad5b-d9cb-469f-a165-70867728950f";
    store.write(op(big, "Pending", {}));
    store.write(op(big, "Running", { env: "y".repeat(5000) }));
    assert.equal(JSON.parse(readFileSync(join(dir, `${big}.json`), "utf8")).status, "Running");
    store.write(op(big, "Failure", {}));
    assert.equal(JSON.parse(readFileSync(join(dir, `${big}.json`), "utf8")).status, "Failure");
    store.remove(id);
    store.remove(big);
    assert.deepEqual(readdirSync(dir), [], "no temporary file left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("profiles: parsed once per file version, a change seen at once, copies handed out", () => {
  const dir = mkdtempSync(join(tmpdir(), "lxt-unit-profiles-"));
  try {
    const store = new ProfileStore(dir);
    store.save({ name: "p1", description: "one", config: { "limits.cpu": "1" }, devices: {} });
    const a = store.get("p1");
    a.config["limits.cpu"] = "changed by a caller";
    assert.equal(store.get("p1").config["limits.cpu"], "1", "the cache is not the caller's");
    store.save({ name: "p1", description: "two", config: { "limits.cpu": "2" }, devices: {} });
    assert.equal(new ProfileStore(dir).get("p1").config["limits.cpu"], "2");
    // Written in place by someone else (same inode): its size or mtime tells.
    writeFileSync(join(dir, "p1.yaml"), "description: three\nconfig:\n  limits.cpu: '3'\n");
    assert.equal(store.get("p1").description, "three");
    rmSync(join(dir, "p1.yaml"));
    assert.equal(store.find("p1"), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("attach server: the first exit line is the status, lines before it the failure", () => {
  const r = new ControlReader();
  assert.equal(r.push("error attach setns % 1\nex"), undefined);
  assert.equal(r.push("it 126\nexit 126\n"), 126);
  assert.equal(r.code, 126);
  assert.equal(r.failure(), "error attach setns % 1");
  // The reaper's repeat (or anything after) changes nothing.
  assert.equal(r.push("exit 0\n"), undefined);
  assert.equal(r.code, 126);
  const ok = new ControlReader();
  assert.equal(ok.push("exit 0\nexit 0\n"), 0);
  assert.equal(ok.failure(), "");
  // A channel that ends without one: what it said, the unfinished line too.
  const cut = new ControlReader();
  assert.equal(cut.push("error attach fork % 11\nexi"), undefined);
  assert.equal(cut.code, undefined);
  assert.equal(cut.failure(), "error attach fork % 11\nexi");
});
