import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildProgram, VERBS } from "../../src/cli/program.js";

const namesOf = (argv?: string[]) =>
  buildProgram(argv)
    .commands.flatMap((c) => [c.name(), ...c.aliases()])
    .sort();

describe("buildProgram", () => {
  test("the verb table names exactly what the verbs register", () => {
    assert.deepEqual(namesOf(), VERBS.flatMap(([names]) => names).sort());
    for (const [names] of VERBS) {
      assert.deepEqual(namesOf(["node", "lxt", names[0] as string]), [...names].sort());
    }
  });

  test("a verb as the first word registers that verb only, by name or alias", () => {
    assert.deepEqual(namesOf(["node", "lxt", "start", "-n", "c1"]), ["start"]);
    assert.deepEqual(namesOf(["node", "lxt", "list"]), ["list", "ls"]);
    assert.deepEqual(namesOf(["node", "lxt", "unfreeze", "c1"]), ["freeze", "unfreeze"]);
  });

  test("anything else gets the whole tree (help, options first, typos)", () => {
    const all = namesOf();
    for (const first of ["--help", "help", "-V", "strat", "-n"]) {
      assert.deepEqual(namesOf(["node", "lxt", first, "start"]), all);
    }
    assert.deepEqual(namesOf(["node", "lxt"]), all);
  });
});
