/** `lxt metrics` without the bundle (src/cli/metrics-entry.ts): which arguments it answers itself. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMetricsArgs } from "../../src/cli/metrics-entry.js";

test("names, -n/--name and -P/--lxcpath in each of commander's spellings", () => {
  assert.deepEqual(parseMetricsArgs([]), { names: [], lxcpath: undefined });
  assert.deepEqual(parseMetricsArgs(["a", "-n", "b", "--name", "c", "--name=d", "-ne"]), {
    names: ["a", "b", "c", "d", "e"],
    lxcpath: undefined,
  });
  assert.deepEqual(parseMetricsArgs(["-P", "/x"]), { names: [], lxcpath: "/x" });
  assert.deepEqual(parseMetricsArgs(["--lxcpath=/y", "a"]), { names: ["a"], lxcpath: "/y" });
  assert.deepEqual(parseMetricsArgs(["-P/z"]), { names: [], lxcpath: "/z" });
});

test("anything else is left to the full verb: help, other flags, a flag without its value", () => {
  for (const args of [["--help"], ["-h"], ["--", "a"], ["-q"], ["-n"], ["a", "-P"], ["--name"]]) {
    assert.equal(parseMetricsArgs(args), undefined, args.join(" "));
  }
});
