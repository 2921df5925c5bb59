/**
 * `dist/lxt.cjs`: loads the CLI bundle (`dist/lxt-main.cjs`) with a V8 code
 * cache, so a command does not parse and compile the bundle's functions again
 * on every start. Without a usable cache (none, another Node, a rebuilt
 * bundle) the bundle is compiled as usual: a cache only ever saves time.
 *
 * `npm run build` writes `dist/lxt-main.cjs.cache` after a `--help` run
 * (`LXT_WRITE_CODE_CACHE=1`): it holds what every command compiles (the
 * CLI's option parsing and verb tables). A verb's own path (the config parser
 * and the plan for `start`, the state readers for `info`, ...) cannot be run
 * at build time, so each verb learns its own cache: the first run of a verb
 * that ends with status 0 writes `dist/lxt-main.cjs.VERB.cache` as it exits,
 * holding everything that run compiled (the general cache's functions and the
 * verb's), and later commands whose first word is VERB load that one. One
 * cache per verb keeps each as small as its verb needs (V8 reads all of a
 * cache on every start). A failed write (a read-only install, not root)
 * changes nothing. The bundle names the verb whose action ran in
 * `globalThis.__lxtVerbRan` (src/cli/main.ts).
 *
 * A cache file: one line `lxt-code-cache SIZE MTIME` (the bundle's size and
 * mtime), then V8's data (V8 checks its own version, flags and checksum).
 */

import {
  closeSync,
  fstatSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
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

/** A bundle's text and a stamp (size, mtime) that a cache must carry to be used with it. */
function readBundle(file = bundle): { source: string; stamp: string } {
  const fd = openSync(file, "r");
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

/** The cache in `file` if it was made for this bundle (V8 checks the rest), else undefined. */
function readCache(file: string, stamp: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch {
    return undefined;
  }
  const nl = data.indexOf(10);
  if (nl < 0 || data.subarray(0, nl).toString("latin1") !== stamp) return undefined;
  return data.subarray(nl + 1);
}

/** Replaces `file` at once (a reader sees the old one or the new one); a failure is ignored. */
function writeCache(file: string, stamp: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, Buffer.concat([Buffer.from(`${stamp}\n`), data]), { flag: "wx" });
    renameSync(tmp, file);
  } catch {
    try {
      unlinkSync(tmp);
    } catch {}
  }
}

/**
 * Where verbs' caches are learnt: beside the bundle, or `$LXT_CODE_CACHE_DIR`
 * (the Debian package's launcher: /var/cache/lxt/code, so nothing is written
 * under /usr that dpkg does not know of).
 */
const learnt = process.env.LXT_CODE_CACHE_DIR
  ? join(process.env.LXT_CODE_CACHE_DIR, "lxt-main.cjs")
  : bundle;
/** The cache a verb learns (see above); only for plain lower-case verb names (and `__complete`). */
const verbCache = (verb: unknown) =>
  typeof verb === "string" && /^[a-z_]+$/.test(verb) ? `${learnt}.${verb}.cache` : undefined;

/** Compiles (with a code cache) and runs the CLI bundle. */
function runBundle(): void {
  const { source, stamp } = readBundle();
  mark("bundle read");
  const writing = process.env.LXT_WRITE_CODE_CACHE === "1";
  const ownFile = verbCache(process.argv[2]);
  const own = writing || !ownFile ? undefined : readCache(ownFile, stamp);
  const cachedData = writing ? undefined : (own ?? readCache(cacheFile, stamp));
  const script = new Script(wrap(source), { filename: bundle, cachedData });
  const rejected = cachedData !== undefined && script.cachedDataRejected === true;
  process.on("exit", (code) => {
    if (writing) return writeCache(cacheFile, stamp, script.createCachedData());
    const file = verbCache((globalThis as { __lxtVerbRan?: unknown }).__lxtVerbRan);
    // Learnt once, by a run that succeeded; a rejected one (another Node) is learnt again.
    if (code !== 0 || !file || (file === ownFile && own && !rejected)) return;
    if (file !== ownFile && readCache(file, stamp)) return;
    writeCache(file, stamp, script.createCachedData());
  });
  mark(rejected ? "bundle compiled (code cache rejected)" : "bundle compiled");
  runScript(script, bundle);
}

/** Runs a CommonJS file's text compiled as `filename` (with V8's `cachedData`), giving its exports. */
function runScript(script: Script, filename: string): unknown {
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    mod.exports,
    mod.exports,
    createRequire(filename),
    mod,
    filename,
    dirname(filename),
  );
  return mod.exports;
}

/**
 * `lxt metrics` (a scrape, which monitoring runs every few seconds):
 * answered by dist/lxt-metrics.cjs (src/cli/metrics-entry.ts), a tenth of
 * the bundle, with a code cache of its own learnt as a verb's is (by its
 * first run that answers and exits 0). Resolves false, having written
 * nothing, when the full verb must answer (other flags, `--help`, an error).
 */
async function metricsAlone(): Promise<boolean> {
  if (process.argv[2] !== "metrics") return false;
  const file = join(__dirname, "lxt-metrics.cjs");
  let entry: typeof import("./metrics-entry.js");
  let source: string;
  let stamp: string;
  try {
    ({ source, stamp } = readBundle(file));
  } catch {
    return false;
  }
  const cache = `${join(dirname(learnt), "lxt-metrics.cjs")}.cache`;
  const cachedData = readCache(cache, stamp);
  const script = new Script(wrap(source), { filename: file, cachedData });
  try {
    entry = runScript(script, file) as typeof entry;
  } catch {
    return false;
  }
  const answered = await entry.metricsAlone(process.argv.slice(3));
  const usable = cachedData !== undefined && script.cachedDataRejected !== true;
  if (answered && !usable) {
    process.on("exit", (code) => {
      if (code === 0) writeCache(cache, stamp, script.createCachedData());
    });
  }
  return answered;
}

/**
 * `lxt __complete` for names (shell completion, on every Tab): answered by
 * dist/lxt-complete.cjs without the bundle when it can
 * (src/cli/complete-entry.ts); false sends the command on to the bundle.
 */
function completedAlone(): boolean {
  if (process.argv[2] !== "__complete") return false;
  let entry: typeof import("./complete-entry.js");
  try {
    entry = require(join(__dirname, "lxt-complete.cjs"));
  } catch {
    return false;
  }
  return entry.completeNames(process.argv.slice(3), process.env);
}

if (!completedAlone()) {
  if (process.argv[2] === "metrics") {
    metricsAlone().then(
      (answered) => answered || runBundle(),
      () => runBundle(),
    );
  } else runBundle();
}
