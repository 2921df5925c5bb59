import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { repack } from "../../scripts/deb/build.js";
import { ON_REQUEST } from "../../scripts/deb/maintainer.js";
import { alive, hasCmd, hostLeftovers, LXT, REPO, runtimeRoot, skipReason } from "./harness.js";

/**
 * The Debian package, installed into this host's real system with dpkg, as
 * a person would: install an older build, run a container with the packaged
 * lxt, upgrade with it running, remove, purge. Sound on a host where the
 * package is not installed and /var/lib/lxt (the packaged lxt's state root,
 * which purge removes) holds nothing: otherwise it skips. The developer's
 * /usr/local/bin/lxt and the tests' bin/lxt are other files, untouched;
 * the package's /usr/bin/lxt is run by its full path.
 */
const STATE = "/var/lib/lxt";
const UNITS = readdirSync(join(REPO, "scripts")).filter((f) => f.endsWith(".service"));

function packageSkip(): string | undefined {
  for (const c of ["dpkg", "dpkg-deb", "dpkg-shlibdeps", "npm", "strip"]) {
    if (!hasCmd(c)) return `SKIP: no ${c} (dpkg-dev, binutils, npm)`;
  }
  const status = spawnSync("dpkg-query", ["-s", "lxt"], { encoding: "utf8" });
  const line = /^Status: (.*)$/m.exec(status.stdout)?.[1] ?? "";
  if (status.status === 0 && !line.includes("not-installed"))
    return `SKIP: a package lxt is on this host (${line}); the test installs and purges its own`;
  if (existsSync(STATE) && readdirSync(STATE).length > 0)
    return `SKIP: ${STATE} holds state; purging the package would remove it`;
  return undefined;
}

const skip = skipReason() ?? packageSkip();

/** A subordinate id file's text without root's lines. */
function withoutRoot(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("root:"))
    .join("\n");
}

/** The environment of a person's shell: lxt's defaults, not the tests' overrides. */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, LXT_NO_HOST_NETWORK: "1" };
  for (const k of ["LXT_PATH", "LXT_SHIM", "LXT_RUNDIR", "LXT_CODE_CACHE_DIR"]) delete e[k];
  return e;
}

function sh(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env(), timeout: 300_000 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** dpkg ARGS, waiting while another dpkg or apt (another helper's) holds its lock. */
function dpkg(args: string[]): string {
  for (let i = 0; ; i++) {
    const r = sh("dpkg", args);
    if (r.code === 0) return r.out;
    if (!/lock/i.test(r.out) || i >= 60) assert.fail(`dpkg ${args.join(" ")}: ${r.out}`);
    execFileSync("sleep", ["2"]);
  }
}

const lxt = (...args: string[]) => {
  const r = sh("/usr/bin/lxt", args);
  assert.equal(r.code, 0, `/usr/bin/lxt ${args.join(" ")}: ${r.out}`);
  return r.out;
};
/** The installed package's version (`dpkg-query -W` prints NAME<TAB>VERSION). */
const version = () => sh("dpkg-query", ["-W", "lxt"]).out.trim().split("\t")[1];
const monitorOf = (name: string) =>
  Number(
    readFileSync(join(runtimeRoot(STATE), name, "monitor"), "utf8")
      .trim()
      .split(/\s+/)[0],
  );

/**
 * deb-systemd-helper's symlinks in /etc naming one of our units: enablement
 * (to /lib/systemd/system) and masks (to /dev/null); setup.sh's own units in
 * /etc and their links are a developer's, not the package's.
 */
function unitLinks(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of existsSync(dir) ? readdirSync(dir) : []) {
      const p = join(dir, e);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink() && UNITS.includes(e)) {
        const to = readlinkSync(p);
        if (to === "/dev/null" || to.startsWith("/lib/systemd/system/")) out.push(`${p} -> ${to}`);
      }
    }
  };
  walk("/etc/systemd/system");
  return out;
}

describe("Debian package", { skip: skip ?? false, timeout: 900_000 }, () => {
  let out = "";
  let oldDeb = "";
  let newDeb = "";
  const name = `lxtdeb-${process.pid}`;

  // The host's subordinate id files, given back as they were after the test;
  // during it root has no range, as on a host lxt never ran on.
  const SUBID_FILES = ["/etc/subuid", "/etc/subgid"];
  const saved = new Map<string, string>();

  before(() => {
    for (const f of SUBID_FILES) {
      const text = existsSync(f) ? readFileSync(f, "utf8") : "";
      saved.set(f, text);
      writeFileSync(f, withoutRoot(text));
    }
    out = mkdtempSync(join(tmpdir(), "lxt-deb-test-"));
    const build = (...args: string[]) =>
      execFileSync(
        process.execPath,
        ["--import", "tsx", join(REPO, "scripts/deb/build.ts"), "--fast", "--out", out, ...args],
        {
          encoding: "utf8",
          cwd: REPO,
          stdio: ["ignore", "pipe", "inherit"],
        },
      ).trim();
    newDeb = build();
    oldDeb = repack(newDeb, "0.0.1~old", out);
  });

  after(() => {
    // Whatever a failure left: the container, the package, its state.
    if (existsSync("/usr/bin/lxt")) sh("/usr/bin/lxt", ["destroy", "-f", "-n", name]);
    else if (existsSync(join(STATE, name))) sh(LXT, ["destroy", "-f", "-n", name, "-P", STATE]);
    if (sh("dpkg-query", ["-W", "lxt"]).code === 0) sh("dpkg", ["-P", "lxt"]);
    rmSync(out, { recursive: true, force: true });
    for (const [f, text] of saved) writeFileSync(f, text);
  });

  test("installs, runs a container, upgrades under it, removes, purges without a trace", () => {
    // An older build first.
    dpkg(["-i", oldDeb]);
    assert.equal(version(), "0.0.1~old");
    assert.match(lxt("--version"), /^lxt \d+\.\d+\.\d+ \(commit \S+\)\n$/);
    assert.match(sh("/usr/bin/lxtd", ["--version"]).out, /^lxtd /);
    const files = dpkg(["-L", "lxt"]).split("\n").filter(Boolean);
    for (const f of [
      "/usr/bin/lxt",
      "/usr/bin/lxtd",
      "/usr/lib/lxt/lxt-shim",
      "/usr/lib/lxt/node/bin/node",
      "/usr/lib/lxt/dist/lxt-complete.cjs",
      "/usr/lib/lxt/dist/lxt-metrics.cjs",
      "/usr/share/man/man1/lxt-start.1.gz",
      "/usr/share/man/man5/lxt.container.conf.5.gz",
      "/usr/share/man/man8/lxtd.8.gz",
      "/usr/share/bash-completion/completions/lxt",
      "/usr/share/doc/lxt/changelog.gz",
      ...UNITS.map((u) => `/lib/systemd/system/${u}`),
    ]) {
      assert.ok(files.includes(f), `dpkg -L lxt lists ${f}`);
    }
    assert.match(
      readFileSync("/lib/systemd/system/lxtd.service", "utf8"),
      /^ExecStart=\/usr\/bin\/lxtd /m,
    );
    // Enabled per policy: every unit but the daemon, which runs on request.
    const links = unitLinks();
    for (const u of UNITS) {
      const enabled = links.some((l) => l.includes(`.wants/${u} `));
      assert.equal(enabled, !ON_REQUEST.includes(u), `${u} enabled: ${links.join(", ")}`);
    }
    // postinst gave root its subordinate ids, as lxt create would.
    for (const f of SUBID_FILES) {
      assert.match(readFileSync(f, "utf8"), /^root:\d+:\d+$/m, `${f} has a range for root`);
    }

    // A container with the packaged lxt, in its default state root.
    lxt("create", "-n", name, "-t", "busybox", "--network", "empty");
    lxt("start", "-n", name);
    assert.equal(lxt("attach", "-n", name, "--", "cat", "/proc/1/comm").trim(), "init");
    const monitor = monitorOf(name);
    assert.ok(alive(monitor));
    // Shell completion's names, from the packaged entry (src/cli/complete-entry.ts).
    assert.ok(lxt("__complete", "running").split("\n").includes(name), "__complete running");

    // The upgrade: the container keeps running, under the same monitor.
    dpkg(["-i", newDeb]);
    assert.notEqual(version(), "0.0.1~old");
    assert.ok(alive(monitor), "the monitor outlived the upgrade");
    assert.equal(monitorOf(name), monitor);
    assert.match(lxt("info", "-n", name, "-s"), /RUNNING/);
    assert.equal(lxt("attach", "-n", name, "--", "cat", "/proc/1/comm").trim(), "init");

    // Remove: nothing runs on, the state stays.
    const listed = dpkg(["-L", "lxt"]).split("\n").filter(Boolean);
    dpkg(["-r", "lxt"]);
    assert.ok(!alive(monitor), "the container was stopped on removal");
    assert.ok(existsSync(join(STATE, name, "config")), "state is kept on remove");
    assert.ok(!existsSync("/usr/bin/lxt"));

    // Purge: no file, unit, link or state of the package left.
    dpkg(["-P", "lxt"]);
    assert.notEqual(sh("dpkg", ["-L", "lxt"]).code, 0, "dpkg -L lxt: not installed");
    // Shared system directories (/usr/bin, /lib/systemd ...) stay; the package's own ones name lxt.
    const left = listed.filter(
      (f) => existsSync(f) && (!statSync(f).isDirectory() || f.includes("lxt")),
    );
    assert.deepEqual(left, [], "files of the package left after purge");
    assert.deepEqual(unitLinks(), [], "no enablement or mask link of our units");
    for (const p of [STATE, "/var/cache/lxt", runtimeRoot(STATE)])
      assert.ok(!existsSync(p), `${p} removed`);
    assert.deepEqual(hostLeftovers(name), []);
    // The range postinst added went with the purge; the other users' lines stayed.
    for (const f of SUBID_FILES)
      assert.equal(readFileSync(f, "utf8"), withoutRoot(saved.get(f) ?? ""), `${f} after purge`);
  });
});
