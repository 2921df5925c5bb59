/**
 * The layers of src/ (docs/ARCHITECTURE.md, "Layers and rules"), kept by
 * reading the import graph: every `import`, `export ... from` and dynamic
 * `import()` of every module, type-only ones included.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, test } from "node:test";
import ts from "typescript";

const SRC = resolve(import.meta.dirname, "../../src");

/** The core a front-end goes through. */
const CORE = ["container", "images", "core"];
/** Drivers: they know no container. */
const DRIVERS = ["network", "storage", "cgroups"];
/**
 * The one module of src/host a front-end may import: the factory of the
 * real context, which it builds once and hands to the core.
 */
const CONTEXT_FACTORY = "host/context.ts";
/**
 * lxtd (src/api) is a front-end too: it reaches the machine through the core,
 * and writes its own files (profiles, server config, an instance's LXD
 * sidecar) with the atomic write everything else uses.
 */
const API_HOST = ["host/atomic.ts"];

interface Module {
  /** `container/start.ts` */
  file: string;
  layer: string;
  text: string;
  /** What it imports, as files under src/ (`core/errors.ts`); packages and node: left out. */
  imports: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

/** Every specifier `text` imports: static, `export ... from`, dynamic `import()`. */
export function importSpecifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

function readModules(): Module[] {
  return sourceFiles(SRC).map((abs) => {
    const file = relative(SRC, abs);
    const text = readFileSync(abs, "utf8");
    const imports = importSpecifiers(text)
      .filter((s) => s.startsWith("."))
      .map((s) => relative(SRC, resolve(dirname(abs), s)).replace(/\.js$/, ".ts"));
    return { file, layer: file.split("/")[0] ?? "", text, imports };
  });
}

const modules = readModules();
const layerOf = (file: string) => file.split("/")[0] ?? "";

/** `what` of each module that breaks a rule, as `file -> import` lines. */
function offending(from: (m: Module) => boolean, bad: (imp: string) => boolean): string[] {
  return modules.filter(from).flatMap((m) => m.imports.filter(bad).map((i) => `${m.file} -> ${i}`));
}

const PROCESS_FIELDS = new Set(["stdout", "stderr", "exit", "exitCode", "env", "argv", "pid"]);

/** `process.stdout`, `process.env`, `console.log(...)` ... in the code of `text` (not in its comments or strings). */
export function processUses(text: string): string[] {
  const src = ts.createSourceFile("x.ts", text, ts.ScriptTarget.Latest, false);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const obj = node.expression.text;
      const field = node.name.text;
      if ((obj === "process" && PROCESS_FIELDS.has(field)) || obj === "console") {
        out.push(`${obj}.${field}`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return out;
}

describe("layers", () => {
  test("the import reader sees static, re-exported, type-only and dynamic imports", () => {
    const text = [
      'import { a } from "./a.js";',
      'import type { B } from "../b.js";',
      'export { c } from "./c.js";',
      "// import { d } from './in-a-comment.js';",
      'const e = await import("../e.js");',
    ].join("\n");
    assert.deepEqual(importSpecifiers(text), ["./a.js", "../b.js", "./c.js", "../e.js"]);
    assert.ok(modules.length > 100, `read ${modules.length} modules`);
    assert.ok(modules.some((m) => m.imports.includes("core/errors.ts")));
  });

  test("lxtd's API reaches drivers and the host only through the core", () => {
    const allowed = (imp: string) =>
      [...CORE, "api"].includes(layerOf(imp)) || API_HOST.includes(imp);
    assert.deepEqual(
      offending(
        (m) => m.layer === "api",
        (imp) => !allowed(imp),
      ),
      [],
    );
  });

  test("the CLI reaches drivers and the host only through the core", () => {
    const allowed = (imp: string) =>
      [...CORE, "cli", "api"].includes(layerOf(imp)) || imp === CONTEXT_FACTORY;
    assert.deepEqual(
      offending(
        (m) => m.layer === "cli",
        (imp) => !allowed(imp),
      ),
      [],
    );
  });

  test("drivers know no container: network, storage and cgroups import no core verb", () => {
    assert.deepEqual(
      offending(
        (m) => DRIVERS.includes(m.layer),
        (imp) => ["container", "images", "cli"].includes(layerOf(imp)),
      ),
      [],
    );
  });

  test("the host is the bottom: it imports no verb, driver or front-end", () => {
    assert.deepEqual(
      offending(
        (m) => m.layer === "host",
        (imp) => ["container", "images", "cli", ...DRIVERS].includes(layerOf(imp)),
      ),
      [],
    );
  });

  test("nothing below the CLI prints, exits or reads the process's environment or arguments", () => {
    const found = modules
      .filter((m) => m.layer !== "cli")
      .flatMap((m) => processUses(m.text).map((u) => `${m.file}: ${u}`));
    assert.deepEqual(found, []);
  });

  test("built-ins are imported statically: the CLI's bundle runs in a vm script, which has no dynamic import of them", () => {
    const dynamic = modules.flatMap((m) =>
      [...m.text.matchAll(/\bimport\(\s*["'](node:[^"']+)["']\s*\)/g)].map(
        (x) => `${m.file}: ${x[1]}`,
      ),
    );
    assert.deepEqual(dynamic, []);
  });

  test("the checks bite: a printing driver and a CLI verb that skips the core are caught", () => {
    assert.deepEqual(
      processUses(
        "process.stderr.write(`$" + "{process.env.X}`); console.log(1); process.exitCode = 2;",
      ),
      ["process.stderr", "process.env", "console.log", "process.exitCode"],
    );
    assert.deepEqual(
      processUses(
        'const s = "process.stderr"; // process.stdout\nconst t = `lxc.console.log $' + "{1}`;",
      ),
      [],
    );
    const imp = (spec: string) =>
      relative(SRC, resolve(SRC, "cli/verbs", spec)).replace(/\.js$/, ".ts");
    assert.equal(layerOf(imp("../../network/manage.js")), "network");
    assert.equal(imp("../../host/context.js"), CONTEXT_FACTORY);
  });
});
