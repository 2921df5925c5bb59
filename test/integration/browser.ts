/**
 * A real browser for the web UI's tests and screenshots: Debian's chromium
 * (the `chromium` package; no browser is downloaded) driven by
 * playwright-core over a pipe. `netns`: the browser runs in that network
 * namespace (through nsenter), so it reaches an lxtd's loopback listener
 * there.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";

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
