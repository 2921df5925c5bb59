/**
 * A real browser for the web UI's tests and screenshots: Debian's chromium
 * (the `chromium` package; no browser is downloaded) driven by
 * playwright-core over a pipe. `netns`: the browser runs in that network
 * namespace (through nsenter), so it reaches an lxtd's loopback listener
 * there.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { LXT, NetnsSandbox } from "./harness.js";
import { LxtdSandbox } from "./lxtd-harness.js";

/** Debian's binary (its /usr/bin/chromium wrapper prints a stray shell error here). */
export const CHROMIUM = "/usr/lib/chromium/chromium";

/** Why no browser test can run, or undefined. */
export function browserSkip(): string | undefined {
  if (!existsSync(CHROMIUM))
    return `SKIP: no ${CHROMIUM} (apt-get install chromium; scripts/setup.sh installs it)`;
  return undefined;
}

/** A headless chromium (in `netns` through a wrapper script, removed once it started). */
export async function launchBrowser(opts: { netns?: string } = {}): Promise<Browser> {
  let exe = CHROMIUM;
  let dir: string | undefined;
  if (opts.netns) {
    dir = mkdtempSync(join(tmpdir(), "lxt-browser-"));
    exe = join(dir, "chromium");
    writeFileSync(exe, `#!/bin/sh\nexec nsenter --net=/run/netns/${opts.netns} ${CHROMIUM} "$@"\n`);
    chmodSync(exe, 0o755);
  }
  try {
    return await chromium.launch({
      executablePath: exe,
      // Root has no user namespace sandbox to give chromium's; /dev/shm may be small in CI.
      args: ["--no-sandbox", "--disable-dev-shm-usage"],
    });
  } finally {
    // The wrapper has exec'd by now (or failed): it is not needed again.
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** The URL `lxt ui` prints for the state root's lxtd. */
export function uiUrl(lxcpath: string): string {
  const r = spawnSync(LXT, ["ui", "-P", lxcpath], { encoding: "utf8" });
  assert.equal(r.status, 0, `lxt ui: ${r.stdout}${r.stderr}`);
  const url = r.stdout.trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/ui\/login#token=[0-9a-f]{64}$/);
  return url;
}

/**
 * An lxtd and a headless chromium in a network namespace of the test's own,
 * with a managed network `net` there on `subnet` (so containers get
 * addresses without touching the host's); the browser reaches the daemon's
 * loopback UI listener. `close` undoes all of it.
 */
export async function browserSandbox(tag: string, subnet: string) {
  const box = new LxtdSandbox();
  const netns = new NetnsSandbox(tag, { box });
  let browser: Browser | undefined;
  const close = async () => {
    try {
      await browser?.close();
      await box.stopDaemon();
      netns.dispose();
    } finally {
      await box.close();
    }
  };
  try {
    netns.open();
    const net = netns.network("u");
    await box.startDaemon([], { netns: netns.ns });
    box.lxcOk(["network", "create", net, `ipv4.address=${subnet}`]);
    browser = await launchBrowser({ netns: netns.ns });
    return { box, netns, net, browser, close };
  } catch (err) {
    await close();
    throw err;
  }
}
