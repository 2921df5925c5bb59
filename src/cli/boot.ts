/**
 * `dist/lxt.cjs`: loads the CLI bundle (`dist/lxt-main.cjs`) with V8's code
 * cache (`dist/lxt-main.cjs.cache`, written by `npm run build`), so a command
 * does not parse and compile the bundle's functions again on every start.
 * Without a usable cache (none, another Node, a rebuilt bundle) the bundle
 * is compiled as usual: the cache only ever saves time.
 *
 * `LXT_WRITE_CODE_CACHE=1 node dist/lxt.cjs --help` writes the cache after
 * the run, so it holds the functions a command start compiles (the CLI's
 * option parsing and verb tables).
 */

import { closeSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { createRequire, wrap } from "node:module";
import { dirname, join } from "node:path";
import { Script } from "node:vm";

// LXT_PHASES=1 (src/cli/phases.ts): the loader's own phases, kept where the bundle finds them.
const marks: [string, bigint][] | undefined =
  process.env.LXT_PHASES === "1" ? [["loader", process.hrtime.bigint()]] : undefined;
if (marks) (globalThis as { __lxtPhases?: unknown }).__lxtPhases = marks;
const mark = (name: string) => marks?.push([name, process.hrtime.bigint()]);

// The bundle is CommonJS: __dirname is this file's directory.
const bundle = join(__dirname, "lxt-main.cjs");
const cacheFile = `${bundle}.cache`;

/** The bundle's text and a stamp (size, mtime) that a cache must carry to be used with it. */
function readBundle(): { source: string; stamp: string } {
  const fd = openSync(bundle, "r");
  try {
    const st = fstatSync(fd);
    // One read of the known size (readFileSync on an fd reads 8 KiB at a time).
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const n = readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return {
      source: buf.toString("utf8", 0, got),
      stamp: `lxt-code-cache ${st.size} ${st.mtimeMs}`,
    };
  } finally {
    closeSync(fd);
  }
}

/** The cached data for this bundle, or undefined (V8 checks the rest: its version, flags, checksum). */
function readCache(stamp: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  const nl = data.indexOf(10);
  if (nl < 0 || data.subarray(0, nl).toString("latin1") !== stamp) return undefined;
  return data.subarray(nl + 1);
}

const { source, stamp } = readBundle();
mark("bundle read");
const writing = process.env.LXT_WRITE_CODE_CACHE === "1";
const script = new Script(wrap(source), {
  filename: bundle,
  cachedData: writing ? undefined : readCache(stamp),
});
if (writing) {
  process.on("exit", () => {
    writeFileSync(cacheFile, Buffer.concat([Buffer.from(`${stamp}\n`), script.createCachedData()]));
  });
}
mark(script.cachedDataRejected ? "bundle compiled (code cache rejected)" : "bundle compiled");
const mod = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void).call(
  mod.exports,
  mod.exports,
  createRequire(bundle),
  mod,
  bundle,
  dirname(bundle),
);
