import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, test } from "node:test";

const require = createRequire(import.meta.url);
const LAZY = join(import.meta.dirname, "..", "..", "src", "cli", "lazy");

/** src/cli/lazy: the bundle's stand-ins for built-ins it loads only when used. */
describe("lazy built-ins", () => {
  for (const name of ["child_process", "net", "tty"]) {
    test(`${name}: every export of this Node's module, each the module's own`, () => {
      const real = require(name) as Record<string, unknown>;
      const stand = require(join(LAZY, `${name}.cjs`)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(stand).sort(), Object.keys(real).sort());
      for (const key of Object.keys(real)) assert.equal(stand[key], real[key], key);
    });
  }

  test("the module is loaded at the first use, not before", () => {
    const lazy = require(join(LAZY, "lazy.cjs")) as (
      load: () => Record<string, unknown>,
      names: string[],
    ) => Record<string, unknown>;
    let loads = 0;
    const stand = lazy(() => {
      loads++;
      return { a: 1, b: 2 };
    }, ["a", "b"]);
    assert.deepEqual(Object.keys(stand), ["a", "b"]);
    assert.equal(loads, 0, "naming the exports loads nothing");
    assert.equal(stand.b, 2);
    assert.equal(stand.a, 1);
    assert.equal(loads, 1, "loaded once");
  });
});
