import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CLI_ERRORS } from "../../src/cli/errors.js";
import { CATEGORY_STATUS, ERROR_CODES, type ErrorCode, LxtError } from "../../src/core/errors.js";

test("docs/errors.md lists every error code with its exit status, category and HTTP status", () => {
  const doc = readFileSync(join(import.meta.dirname, "../../docs/errors.md"), "utf8");
  for (const [code, { category }] of Object.entries(ERROR_CODES)) {
    const { exit } = CLI_ERRORS[code as ErrorCode];
    const status = CATEGORY_STATUS[category];
    assert.match(
      doc,
      new RegExp(`^\\| \`${code}\` \\| ${exit} \\| ${category} \\(${status}\\) \\|`, "m"),
      `${code} documented with exit ${exit}, ${category} (${status})`,
    );
  }
  const rows = doc.split("\n").filter((l) => /^\| `[a-z-]+` \|/.test(l));
  assert.equal(rows.length, Object.keys(ERROR_CODES).length, "no stale rows");
});

test("an error carries its category and the HTTP status a daemon answers with", () => {
  const statuses: [ErrorCode, number][] = [
    ["usage", 400],
    ["not-found", 404],
    ["exists", 409],
    ["state", 400],
    ["unsupported", 501],
    ["timeout", 504],
    ["internal", 500],
    ["host", 503],
  ];
  for (const [code, status] of statuses) {
    const e = new LxtError(code, "x");
    assert.equal(e.httpStatus, status, code);
    assert.equal(e.wrap("start c1").httpStatus, status, `${code} keeps it when wrapped`);
  }
  assert.equal(new LxtError("exists", "x").category, "conflict");
});

test("hints that name CLI flags and commands live in the CLI, not in the core", () => {
  const core = readFileSync(join(import.meta.dirname, "../../src/core/errors.ts"), "utf8");
  assert.doesNotMatch(core, /`lxt |--help|\(-P\)/);
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    assert.deepEqual(Object.keys(entry), ["category"], `${code}: the core keeps only its category`);
    assert.ok(code in CLI_ERRORS, code);
  }
});
