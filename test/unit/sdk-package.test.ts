/**
 * The SDK as a package: its sources (and so its declarations) reach only the parts of the daemon
 * that are plain types (so the published `.d.ts` stand alone, with no
 * fastify, pino or core behind them), and its package.json points where the
 * build writes.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const REPO = join(import.meta.dirname, "..", "..");
const SDK = join(REPO, "sdk");

/** The daemon's files the SDK's declarations may reach. */
const ALLOWED = new Set([
  "src/api/types.ts",
  "src/api/types-cluster.ts",
  "src/api/types-requests.ts",
  "src/api/schemas.ts",
  "src/api/envelope.ts",
  "src/core/errors.ts",
]);

/** Every file of the repository that `entry` imports, transitively (relative imports; types too). */
function reached(entry: string): Set<string> {
  const seen = new Set<string>();
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith(".")) continue; // a package: not ours
      walk(join(dirname(file), fileName).replace(/\.js$/, ".ts"));
    }
  };
  walk(entry);
  return seen;
}

test("the SDK reaches only the daemon's type modules", () => {
  const ours = [...reached(join(SDK, "src", "index.ts"))]
    .map((f) => relative(REPO, f))
    .filter((f) => !f.startsWith("sdk/src/"));
  assert.deepEqual(
    ours.filter((f) => !ALLOWED.has(f)),
    [],
    "a type module of src/api imports the daemon (move the shape into src/api/types.ts)",
  );
  assert.ok(ours.includes("src/api/types.ts"));
});

test("package.json: publishable, and pointing where the build writes", () => {
  const pkg = JSON.parse(readFileSync(join(SDK, "package.json"), "utf8"));
  const root = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
  assert.equal(pkg.name, "@lxt/sdk");
  assert.match(pkg.version, /^\d+\.\d+\.\d+$/);
  assert.equal(pkg.license, root.license);
  assert.notEqual(pkg.private, true);
  assert.deepEqual(pkg.files, ["dist", "README.md"]);
  // Declarations are emitted with the repository as rootDir: sdk/src/index.ts → dist/types/sdk/src/.
  assert.equal(pkg.types, "./dist/types/sdk/src/index.d.ts");
  assert.deepEqual(pkg.exports["."], {
    types: pkg.types,
    import: "./dist/index.js",
    require: "./dist/index.cjs",
  });
  const build: string = root.scripts["build:sdk"];
  assert.match(build, /--outfile=sdk\/dist\/index\.js/);
  assert.match(build, /--outfile=sdk\/dist\/index\.cjs/);
  assert.match(root.scripts.build, /build:sdk/);
  // Its runtime dependency is the root's, at the same range.
  assert.equal(pkg.dependencies.ws, root.dependencies.ws);
  assert.equal(pkg.dependencies.zod, root.dependencies.zod);
});
