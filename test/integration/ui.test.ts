/**
 * The web UI end to end, in Debian's chromium: an lxtd in a network
 * namespace of the test's own (with a managed network there, so the
 * container gets an address without touching the host's), the browser in
 * that namespace too (it reaches the daemon's loopback UI listener). The
 * browser logs in with the token `lxt ui` prints, launches a busybox
 * container from the form, sees it RUNNING with its address, runs
 * `hostname` in the web terminal and a command on its console, takes and restores a snapshot (a file
 * written after it is gone again), stops and deletes it. A browser with no
 * token or cookie gets the login page and nothing else.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { request } from "node:https";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { browserSandbox, browserSkip, uiUrl } from "./browser.js";
import { LXT, type NetnsSandbox, netnsSkip } from "./harness.js";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? netnsSkip() ?? browserSkip();
if (skip) console.log(skip);

describe("web UI in a browser", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let netns: NetnsSandbox;
  let browser: Browser;
  let net = "";
  let close = async () => {};

  before(async () => {
    ({ box, netns, net, browser, close } = await browserSandbox("lxtdui", "10.231.19.1/24"));
  });
  after(() => close());

  test("an untrusted browser sees only the login page", async () => {
    const base = new URL(uiUrl(box.lxcpath)).origin;
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/ui/`);
    assert.equal(new URL(page.url()).pathname, "/ui/login");
    await page.getByRole("button", { name: "Log in" }).waitFor();
    const api = await page.evaluate(async () => (await fetch("/1.0/instances")).status);
    assert.equal(api, 403);
    const events = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://${location.host}/1.0/events`);
          ws.onopen = () => resolve("open");
          ws.onerror = () => resolve("refused");
        }),
    );
    assert.equal(events, "refused");
    // A wrong token lands on the login page again, saying why.
    await page.getByLabel("Token").fill("0".repeat(64));
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/ui/login");
    await ctx.close();
  });

  test("log in, launch, terminal, snapshot, stop, delete", async () => {
    const name = netns.name("ui");
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page: Page = await ctx.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    const url = uiUrl(box.lxcpath);
    await page.goto(url);
    await page.getByRole("heading", { name: "Instances" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/ui/");
    assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
    const cookie = (await ctx.cookies()).find((c) => c.name === "lxt_session");
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, "Strict");
    // The token was spent: a second browser cannot use it.
    const other = await browser.newContext();
    const reuse = await other.newPage();
    await reuse.goto(url);
    await reuse.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
    await other.close();

    // Launch from the form.
    await page.getByRole("button", { name: "Launch", exact: true }).click();
    const form = page.locator("form#launch");
    await form.getByLabel("Name").fill(name);
    const busybox = await form
      .getByLabel("Image")
      .locator("option", { hasText: /^busybox/ })
      .getAttribute("value");
    await form.getByLabel("Image").selectOption(busybox ?? "");
    await form.getByLabel("Memory limit").fill("128MB");
    await form.getByLabel("Network").selectOption(net);
    await form.getByRole("button", { name: "Launch" }).click();
    const row = page.locator(`tr[data-name="${name}"]`);
    await row.locator(".c-status").filter({ hasText: "RUNNING" }).waitFor({ timeout: 60_000 });
    // The address comes from the network's dnsmasq once the container's DHCP client asks.
    await row
      .locator(".c-ipv4")
      .filter({ hasText: /^10\.231\.19\.\d+$/ })
      .waitFor({ timeout: 90_000 });

    // A shell in the browser.
    await row.getByRole("link", { name }).click();
    await page.getByRole("tab", { name: "Terminal" }).click();
    const rows = page.locator(".term-box .xterm-rows");
    await rows.filter({ hasText: "#" }).waitFor({ timeout: 30_000 });
    await page.locator(".term-box").click();
    await page.keyboard.type("hostname\n");
    await rows
      .locator("div")
      .filter({ hasText: new RegExp(`^\\s*${name}\\s*$`) })
      .first()
      .waitFor({ timeout: 30_000 });

    // The console: busybox init asks for Enter, then gives a shell there.
    await page.getByRole("tab", { name: "Console" }).click();
    const console = page.locator(".term-box .xterm-rows");
    await page.locator(".term-box[data-state=open]").waitFor({ timeout: 30_000 });
    await page.locator(".term-box").click();
    await page.keyboard.press("Enter");
    await console.filter({ hasText: "#" }).waitFor({ timeout: 30_000 });
    await page.keyboard.type("echo con-$((6*7))\n");
    await console
      .locator("div")
      .filter({ hasText: /^\s*con-42\s*$/ })
      .first()
      .waitFor({ timeout: 30_000 });

    // Snapshots need a stopped container on this backend: stop it (confirmed).
    await page.getByRole("button", { name: `Stop ${name}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Stop" }).click();
    await page.getByTestId("state").filter({ hasText: "STOPPED" }).waitFor({ timeout: 60_000 });
    await page.getByRole("tab", { name: "Snapshots" }).click();
    await page.getByLabel("Snapshot name").fill("s1");
    await page.getByRole("button", { name: "Take snapshot" }).click();
    await page.locator('tr[data-snapshot="s1"]').waitFor({ timeout: 60_000 });
    box.lxcOk(["file", "push", "-", `${name}/root/after-s1`], { input: "later\n" });
    assert.equal(box.lxc(["file", "pull", `${name}/root/after-s1`, "-"]).code, 0);
    await page.getByRole("button", { name: "Restore s1" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Restore" }).click();
    await page
      .getByRole("status")
      .filter({ hasText: "Working" })
      .waitFor({ state: "detached", timeout: 60_000 });
    assert.equal(
      await page.locator(".error").count(),
      0,
      await page.locator(".error").allInnerTexts().then(String),
    );
    assert.notEqual(
      box.lxc(["file", "pull", `${name}/root/after-s1`, "-"]).code,
      0,
      "the file written after the snapshot is gone",
    );

    // Delete (confirmed); the list no longer has it.
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page.getByRole("link", { name: "← Instances" }).click();
    await row.waitFor({ state: "detached", timeout: 60_000 });
    assert.equal(box.lxc(["info", name]).code === 0, false, "lxd's client no longer finds it");
    assert.deepEqual(pageErrors, []);
    await ctx.close();
  });
});

/** One HTTPS request to a daemon whose certificate is its own; resolves with status and headers. */
function httpsCall(
  url: string,
  opts: { method?: string; body?: string; cookie?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: opts.method ?? "GET",
        rejectUnauthorized: false,
        headers: {
          ...(opts.body ? { "Content-Type": "application/x-www-form-urlencoded" } : {}),
          ...(opts.cookie ? { Cookie: opts.cookie } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

describe("web UI over HTTPS, for a remote browser", {
  skip: lxtdSkipReason(),
  timeout: 60_000,
}, () => {
  let box: LxtdSandbox;
  before(async () => {
    box = new LxtdSandbox();
    await box.startDaemon(["--https", "127.0.0.1:0"]);
  });
  after(async () => {
    await box?.close();
  });

  test("lxt trust ui-token: a token for the HTTPS listener; its session cookie is Secure", async () => {
    const r = spawnSync(LXT, ["trust", "ui-token", "-P", box.lxcpath, "--format", "json"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout) as { token: string; urls: string[]; expires_at: string };
    const url = t.urls[0] ?? "";
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/ui\/login#token=[0-9a-f]{64}$/);
    const hour = Date.parse(t.expires_at) - Date.now();
    assert.ok(hour > 55 * 60_000 && hour <= 3600_000, `an hour by default: ${t.expires_at}`);
    const origin = new URL(url).origin;
    assert.equal((await httpsCall(`${origin}/1.0/instances`)).status, 403);
    const login = await httpsCall(`${origin}/ui/login`, {
      method: "POST",
      body: `token=${t.token}`,
    });
    assert.equal(login.status, 303);
    const cookie = String(login.headers["set-cookie"]);
    assert.match(cookie, /HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const session = /lxt_session=[0-9a-f]{64}/.exec(cookie)?.[0] ?? "";
    assert.equal((await httpsCall(`${origin}/1.0/instances`, { cookie: session })).status, 200);
    // A session may not mint tokens for others.
    const mint = await httpsCall(`${origin}/ui/token`, { method: "POST", cookie: session });
    assert.equal(mint.status, 403);
  });
});
