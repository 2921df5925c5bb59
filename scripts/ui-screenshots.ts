/**
 * `npm run ui:screenshots` (root): screenshots of each main view of the web
 * UI into docs/ui/, from a real lxtd with a few busybox containers. As the
 * browser tests do, the daemon, its network and the browser live in a
 * network namespace of the script's own, and everything is removed after.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { browserSkip, launchBrowser } from "../test/integration/browser.js";
import { LXT, NetnsSandbox, netnsSkip, REPO } from "../test/integration/harness.js";
import { LxtdSandbox, lxtdSkipReason } from "../test/integration/lxtd-harness.js";

const OUT = join(REPO, "docs", "ui");

async function main(): Promise<void> {
  const skip = lxtdSkipReason() ?? netnsSkip() ?? browserSkip();
  if (skip) throw new Error(skip);
  mkdirSync(OUT, { recursive: true });
  const box = new LxtdSandbox();
  const netns = new NetnsSandbox("uishots", { box });
  let browser: Browser | undefined;
  try {
    netns.open();
    const net = netns.network("s");
    await box.startDaemon([], { netns: netns.ns });
    box.lxcOk(["network", "create", net, "ipv4.address=10.231.29.1/24", "dns.domain=lab"]);
    const names = ["web", "db", "cache"].map((p) => netns.name(p));
    const [first, second, stopped] = names as [string, string, string];
    for (const n of [first, second])
      box.lxcOk(["launch", "busybox", n, "-n", net, "-c", "limits.memory=128MB"]);
    box.lxcOk(["init", "busybox", stopped, "-n", net]);
    box.lxcOk(["snapshot", stopped, "before-upgrade"]);
    // Some CPU and traffic for the charts: a busy loop for a while in the first container.
    const busy = spawn(
      "lxc",
      ["exec", first, "--", "sh", "-c", "timeout 40 sh -c 'while :; do :; done'"],
      {
        env: box.env,
        stdio: "ignore",
      },
    );

    browser = await launchBrowser({ netns: netns.ns });
    const url = uiUrl(box.lxcpath);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const shot = (file: string, p: Page = page) => p.screenshot({ path: join(OUT, file) });
    const anon = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await anon.goto(`${new URL(url).origin}/ui/`);
    await anon.getByRole("button", { name: "Log in" }).waitFor();
    await shot("login.png", anon);
    await page.goto(url);
    const row = (n: string) => page.locator(`tr[data-name="${n}"]`);
    for (const n of [first, second])
      await row(n).locator(".c-ipv4").filter({ hasText: /^10\./ }).waitFor({ timeout: 90_000 });
    const address = (await row(first).locator(".c-ipv4").textContent())?.trim() ?? "";
    box.lxcOk(["network", "forward", "create", net, "10.231.29.1"]);
    box.lxcOk([
      "network",
      "forward",
      "port",
      "add",
      net,
      "10.231.29.1",
      "tcp",
      "8080",
      address,
      "80",
    ]);
    // Rates need two samples of each running instance.
    await row(first).locator(".c-cpu").filter({ hasText: "%" }).waitFor({ timeout: 30_000 });
    await shot("instances.png");
    await page.getByRole("button", { name: "Launch", exact: true }).click();
    await page
      .locator("form#launch select[name=network] option", { hasText: net })
      .waitFor({ state: "attached" });
    await shot("launch.png");
    await page.goto(`${new URL(url).origin}/ui/#/i/${first}`);
    // Six samples (half a minute) in each chart: rates have one point fewer than samples.
    await page.waitForFunction(
      () => {
        const lines = [...document.querySelectorAll(".chart polyline")];
        return (
          lines.length === 3 &&
          lines.every((p) => (p.getAttribute("points") ?? "").split(" ").length >= 6)
        );
      },
      undefined,
      { timeout: 60_000 },
    );
    await shot("instance.png");
    await page.getByRole("tab", { name: "Terminal" }).click();
    await page
      .locator(".term-box[data-state=open]")
      .waitFor({ timeout: 60_000 })
      .catch(async (e) => {
        await page.screenshot({ path: "/tmp/webui-fail.png" });
        throw e;
      });
    await page.locator(".term-box .xterm-rows").filter({ hasText: "#" }).waitFor();
    await page.locator(".term-box").click();
    await page.keyboard.type("hostname; ip -4 addr show eth0 | grep inet; uptime\n");
    await page.locator(".term-box .xterm-rows").filter({ hasText: "load average" }).waitFor();
    await shot("terminal.png");
    await page.goto(`${new URL(url).origin}/ui/#/i/${stopped}/snapshots`);
    await page.locator('tr[data-snapshot="before-upgrade"]').waitFor();
    await shot("snapshots.png");
    await page.goto(`${new URL(url).origin}/ui/#/i/${first}/files`);
    await page.getByRole("button", { name: "etc" }).waitFor();
    await shot("files.png");
    await page.goto(`${new URL(url).origin}/ui/#/networks`);
    await page.getByRole("button", { name: /Show leases/ }).click();
    await page
      .locator("td", { hasText: /^10\.231\.29\./ })
      .first()
      .waitFor();
    await shot("networks.png");
    await page.goto(`${new URL(url).origin}/ui/#/images`);
    await page.locator("tr", { hasText: "busybox" }).waitFor();
    await shot("images.png");
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.goto(uiUrl(box.lxcpath));
    await phone.locator(`tr[data-name="${first}"]`).waitFor();
    await shot("phone.png", phone);
    busy.kill();
    process.stdout.write(`ui:screenshots: written under ${OUT}\n`);
  } catch (err) {
    process.stderr.write(`--- lxtd's log:\n${box.log.slice(-3000)}\n`);
    throw err;
  } finally {
    await browser?.close();
    await box.stopDaemon();
    netns.dispose();
    await box.close();
  }
}

function uiUrl(lxcpath: string): string {
  const r = spawnSync(LXT, ["ui", "-P", lxcpath], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lxt ui: ${r.stderr}`);
  return r.stdout.trim();
}

main().catch((err: unknown) => {
  process.stderr.write(`ui:screenshots: ${(err as Error).message}\n`);
  process.exit(1);
});
