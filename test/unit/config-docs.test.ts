import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { renderKeysTable, updateKeysTable } from "../../src/config/docs.js";
import { allKeySpecs } from "../../src/config/index.js";

const DOC = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../docs/config.md");

describe("docs/config.md", () => {
  it("lists every registered key with its status (UPDATE_DOCS=1 regenerates)", () => {
    const text = readFileSync(DOC, "utf8");
    const fresh = updateKeysTable(text);
    if (process.env.UPDATE_DOCS === "1" && fresh !== text) writeFileSync(DOC, fresh);
    else
      assert.equal(
        text,
        fresh,
        "docs/config.md keys table is stale: run UPDATE_DOCS=1 node --import tsx --test test/unit/config-docs.test.ts",
      );
    for (const spec of allKeySpecs()) assert.ok(text.includes(`| \`${spec.name}\` |`), spec.name);
  });

  it("renders one row per key", () => {
    assert.equal(renderKeysTable().split("\n").length, allKeySpecs().length + 2);
  });
});
