import assert from "node:assert/strict";
import { test } from "node:test";
import { collect, targetAndCommand } from "../../src/cli/common.js";
import { LxtError } from "../../src/core/errors.js";

test("attach/execute: -n NAME -- CMD, or NAME -- CMD", () => {
  const a = targetAndCommand({ name: "c1", lxcpath: "/tmp/r" }, ["--", "ls", "-l"]);
  assert.equal(a.paths.name, "c1");
  assert.equal(a.paths.lxcpath, "/tmp/r");
  assert.deepEqual(a.argv, ["ls", "-l"]);
  const b = targetAndCommand({ lxcpath: "/tmp/r" }, ["c2", "--", "sh", "-c", "exit 3"]);
  assert.equal(b.paths.name, "c2");
  assert.deepEqual(b.argv, ["sh", "-c", "exit 3"]);
  assert.deepEqual(targetAndCommand({ name: "c3" }, []).argv, []);
  assert.throws(() => targetAndCommand({}, ["--", "ls"]), LxtError, "no name");
});

test("repeatable options collect every value", () => {
  assert.deepEqual(collect("B=2", collect("A=1", [])), ["A=1", "B=2"]);
});
