/**
 * The Debian package's /usr/bin/lxt (scripts/deb/build.ts `launcher`), run
 * with this checkout's Node, lxt-shim and bundle in place of /usr/lib/lxt's:
 * `lxt metrics` goes through the lxt-shim (no lxtd here: it hands the
 * command to Node), other commands straight to Node.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LIBDIR, launcher } from "../../scripts/deb/build.js";

const REPO = join(import.meta.dirname, "..", "..");
const SHIM = join(REPO, "native", "build", "lxt-shim");
const built = existsSync(SHIM) && existsSync(join(REPO, "dist", "lxt.cjs"));
if (!built) console.log("SKIP: lxt not built (npm run build)");

test("the package's lxt launcher: metrics by the lxt-shim, the rest by Node", {
  skip: !built,
}, () => {
  const text = launcher("lxt", "lxt.cjs", "unset NODE_EXTRA_CA_CERTS\n");
  assert.match(
    text,
    /^\[ "\$\{1:-\}" = metrics \] && .* exec "\$\{LXT_SHIM:-\/usr\/lib\/lxt\/lxt-shim\}" lxtd-metrics \/usr\/lib\/lxt\/node\/bin\/node \/usr\/lib\/lxt\/dist\/lxt\.cjs "\$@"$/m,
  );
  assert.doesNotMatch(launcher("lxtd", "lxtd.cjs"), /metrics/);
  const dir = mkdtempSync(join(tmpdir(), "lxt-unit-launcher-"));
  try {
    const script = join(dir, "lxt");
    writeFileSync(
      script,
      text
        .replaceAll(`${LIBDIR}/node/bin/node`, process.execPath)
        .replaceAll(`${LIBDIR}/lxt-shim`, SHIM)
        .replaceAll(`${LIBDIR}/dist`, join(REPO, "dist")),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, LXT_PATH: dir, LXT_CODE_CACHE_DIR: dir };
    delete env.LXT_SHIM;
    const run = (args: string[]) => spawnSync("sh", [script, ...args], { env, encoding: "utf8" });
    const metrics = run(["metrics"]);
    assert.equal(metrics.status, 0, metrics.stderr);
    assert.match(metrics.stdout, /^lxd_instances\{project="default",type="container"\} 0$/m);
    // What the launcher hands the lxt-shim, seen by a stand-in.
    const standIn = join(dir, "shim");
    writeFileSync(standIn, '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    const seen = spawnSync("sh", [script, "metrics", "-n", "c1"], {
      env: { ...env, LXT_SHIM: standIn },
      encoding: "utf8",
    });
    assert.equal(
      seen.stdout,
      `lxtd-metrics ${process.execPath} ${join(REPO, "dist", "lxt.cjs")} metrics -n c1\n`,
    );
    const version = run(["--version"]);
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /\d+\.\d+\.\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
