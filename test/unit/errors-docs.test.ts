import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ERROR_CODES } from "../../src/core/errors.js";

test("docs/errors.md lists every error code with its exit status", () => {
  const doc = readFileSync(join(import.meta.dirname, "../../docs/errors.md"), "utf8");
  for (const [code, { exit }] of Object.entries(ERROR_CODES)) {
    assert.match(
      doc,
      new RegExp(`^\\| \`${code}\` \\| ${exit} \\|`, "m"),
      `${code} documented with exit ${exit}`,
    );
  }
  const rows = doc.split("\n").filter((l) => /^\| `[a-z-]+` \|/.test(l));
  assert.equal(rows.length, Object.keys(ERROR_CODES).length, "no stale rows");
});
