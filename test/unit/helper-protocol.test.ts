/**
 * The TypeScript side of the helper's protocol against the C side: the op
 * table of native/src/plan.c, the `net` verbs of netlink.c and the error
 * stages the C code reports must be the ones src/host/helper-protocol.ts
 * knows, so that neither side can add or reshape a record alone.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  controlLine,
  ERROR_STAGES,
  NET_VERBS,
  OPT_VERBS,
  PLAN_HEADER,
  PLAN_OPS,
  parseControlReply,
  parseMonitorState,
  parseStatusLine,
  planRecord,
} from "../../src/host/helper-protocol.js";

const NATIVE = join(import.meta.dirname, "../../native/src");
const read = (f: string) => readFileSync(join(NATIVE, f), "utf8");

/** `#define NAME 123` constants of the helper's headers. */
function defines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of readdirSync(NATIVE).filter((n) => n.endsWith(".h") || n.endsWith(".c"))) {
    for (const m of read(f).matchAll(/^#define\s+([A-Z_][A-Z0-9_]*)\s+(\d+)\s*$/gm))
      out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

/** A field count as plan.c states it: a number, or a sum of numbers and #defined constants. */
function count(expr: string, defs: Map<string, number>): number | undefined {
  let sum = 0;
  for (const term of expr.split("+").map((t) => t.trim())) {
    if (/^\d+$/.test(term)) sum += Number(term);
    else if (defs.has(term)) sum += defs.get(term) as number;
    else return undefined;
  }
  return sum;
}

/** plan.c's `ops[]` table: name → [min, max, once] (counts undefined where not computable). */
function planCOps(): Map<string, { min?: number; max?: number; once: boolean }> {
  const src = read("plan.c");
  const table = src.slice(
    src.indexOf("ops[OP__COUNT] = {"),
    src.indexOf("};", src.indexOf("ops[OP__COUNT] = {")),
  );
  const defs = defines();
  const out = new Map<string, { min?: number; max?: number; once: boolean }>();
  for (const m of table.matchAll(
    /\[OP_\w+\]\s*=\s*\{"([a-z0-9-]+)",\s*([^,]+),\s*([^,]+),\s*(true|false),/g,
  )) {
    out.set(m[1] as string, {
      min: count(m[2] as string, defs),
      max: count(m[3] as string, defs),
      once: m[4] === "true",
    });
  }
  return out;
}

/** A C file's `verbs[]` table: verb → argument count. */
function verbTable(file: string): Record<string, number> {
  const src = read(file);
  const start = src.indexOf("verbs[] = {");
  const table = src.slice(start, src.indexOf("};", start));
  return Object.fromEntries(
    [...table.matchAll(/\{"([a-z-]+)",\s*(\d+)\}/g)].map((m) => [m[1] as string, Number(m[2])]),
  );
}

describe("helper protocol: TypeScript and C agree", () => {
  test("every op of plan.c is in PLAN_OPS with the same field counts and repeatability", () => {
    const c = planCOps();
    assert.ok(c.size >= 30, `plan.c's op table was found (${c.size} ops)`);
    const ts = new Map(Object.entries(PLAN_OPS));
    assert.deepEqual([...c.keys()].sort(), [...ts.keys()].sort(), "the same ops on both sides");
    for (const [op, shape] of c) {
      const mine = ts.get(op);
      assert.ok(mine);
      if (shape.min !== undefined) assert.equal(mine.min, shape.min, `${op}: fewest fields`);
      if (shape.max !== undefined) assert.equal(mine.max, shape.max, `${op}: most fields`);
      assert.equal(mine.once, shape.once, `${op}: at most once`);
    }
  });

  test("the net verbs of netlink.c take the arguments NET_VERBS says", () => {
    assert.deepEqual(verbTable("netlink.c"), { ...NET_VERBS });
  });

  test("the opt verbs of nsopts.c take the arguments OPT_VERBS says", () => {
    assert.deepEqual(verbTable("nsopts.c"), { ...OPT_VERBS });
    assert.throws(() => planRecord("opt", ["proc", "oom_score_adj"]), /proc takes 2 arguments/);
  });

  test("every stage the helper's C code fails with is a documented error stage", () => {
    const stages = new Set<string>();
    for (const f of readdirSync(NATIVE).filter((n) => n.endsWith(".c"))) {
      for (const m of read(f).matchAll(/\bfail\("([a-z0-9-]+)"/g)) stages.add(m[1] as string);
    }
    assert.ok(stages.size > 10);
    const known = new Set<string>(ERROR_STAGES);
    assert.deepEqual(
      [...stages].filter((s) => !known.has(s)),
      [],
    );
  });

  test("the plan header names the version main.c reports", () => {
    const v = /#define\s+LXT_PLAN_VERSION\s+(\d+)/.exec(
      readdirSync(NATIVE)
        .map((f) => read(f))
        .join("\n"),
    );
    assert.equal(PLAN_HEADER, `lxt-plan ${v?.[1]}`);
  });
});

describe("helper protocol: records and lines", () => {
  test("planRecord encodes fields and refuses a count the helper would refuse", () => {
    assert.equal(planRecord("mkdir", ["/dev/a b", "755"]), "mkdir /dev/a%20b 755");
    assert.equal(planRecord("pivot", []), "pivot");
    assert.throws(
      () => planRecord("mkdir", ["/dev/x"]),
      /plan record mkdir: 1 fields, the helper takes 2/,
    );
    assert.throws(() => planRecord("net", ["veth", "a"]), /veth takes 7 arguments, not 1/);
    assert.throws(() => planRecord("net", ["bogus", "a"]), /unknown verb "bogus"/);
    assert.equal(planRecord("net", ["up", "lo"]), "net up lo");
  });

  test("status lines", () => {
    assert.deepEqual(parseStatusLine("running 12 345"), {
      kind: "running",
      init: { pid: 12, start: "345" },
    });
    assert.deepEqual(parseStatusLine("error mount mount /dev/pts 1"), {
      kind: "error",
      failure: { stage: "mount", op: "mount", path: "/dev/pts", errno: 1 },
    });
    assert.deepEqual(parseStatusLine("stage rootfs"), { kind: "stage", name: "rootfs" });
    assert.deepEqual(parseStatusLine("running x"), { kind: "unknown", line: "running x" });
  });

  test("control requests and replies", () => {
    assert.equal(controlLine({ verb: "stop", signal: 15, timeoutS: -1 }), "stop 15 -1");
    assert.equal(controlLine({ verb: "signal", signal: 10 }), "signal 10");
    assert.equal(controlLine({ verb: "console", tty: 0 }), "console 0");
    assert.equal(controlLine({ verb: "wait" }), "wait");
    assert.deepEqual(parseControlReply("stopping"), { kind: "stopping" });
    assert.deepEqual(parseControlReply("exited 3"), { kind: "exit", exit: { code: 3 } });
    assert.deepEqual(parseControlReply("signaled 9"), { kind: "exit", exit: { signal: 9 } });
    assert.deepEqual(parseControlReply("STOPPING 5 6"), {
      kind: "state",
      state: { word: "STOPPING", init: { pid: 5, start: "6" } },
    });
    assert.equal(parseControlReply("error socket request % 22").kind, "error");
    assert.deepEqual(parseControlReply("what"), { kind: "unknown", line: "what" });
    assert.equal(parseMonitorState("STARTING 1 2"), undefined);
  });
});
