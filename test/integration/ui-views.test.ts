/**
 * The web UI's other views in Debian's chromium, against an lxtd in a
 * network namespace of the test's own (as ui.test.ts): the file browser
 * uploads a file into a running container and downloads it back; the
 * networks view shows the container's DHCP lease; the images view imports
 * a unified image with an alias; the list is reached and driven with the
 * keyboard alone; every control of each view has an accessible name; and
 * at a phone's width the list fits without sideways scrolling.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { browserSandbox, browserSkip, uiUrl } from "./browser.js";
import { type NetnsSandbox, netnsSkip, until } from "./harness.js";
import { type LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason() ?? netnsSkip() ?? browserSkip();
if (skip) console.log(skip);

/**
 * Controls (buttons, links, fields, tabs) on the page with no accessible name:
 * an aria-label, a non-empty aria-labelledby, a title, a <label>, or text.
 * A string, so the test runner's transform adds nothing the page lacks.
 */
const UNNAMED = `(() => {
  const text = (el) => (el && el.textContent ? el.textContent.trim() : "");
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const by = el.getAttribute("aria-labelledby");
    if (by && by.split(/\\s+/).some((id) => text(document.getElementById(id)))) return true;
    if ((el.getAttribute("title") || "").trim()) return true;
    const tag = el.tagName;
    if (tag === "INPUT" && el.type === "hidden") return true;
    if (tag === "INPUT" && (el.type === "submit" || el.type === "button")) return el.value.trim() !== "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA")
      return [...(el.labels || [])].some((l) => text(l) !== "");
    return (el.innerText || "").trim() !== "";
  };
  return [...document.querySelectorAll("button, a[href], input, select, textarea, [role=tab]")]
    .filter((el) => !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
})()`;

function unnamedControls(page: Page): Promise<string[]> {
  return page.evaluate(UNNAMED);
}

describe("web UI views in a browser", { skip, timeout: 300_000 }, () => {
  let box: LxtdSandbox;
  let netns: NetnsSandbox;
  let ctx: BrowserContext;
  let page: Page;
  let net = "";
  let c1 = "";
  let close = async () => {};
  const pageErrors: string[] = [];

  before(async () => {
    let browser: Browser;
    ({ box, netns, net, browser, close } = await browserSandbox("lxtduv", "10.231.29.1/24"));
    c1 = netns.name("uv");
    box.lxcOk(["launch", "busybox", c1, "--network", net]);
    ctx = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
    });
    page = await ctx.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(uiUrl(box.lxcpath));
    await page.getByRole("heading", { name: "Instances" }).waitFor();
  });
  after(() => close());

  test("files: upload into a directory, then download the file back", async () => {
    await page.goto(`${new URL(page.url()).origin}/ui/#/i/${c1}/files`);
    const files = page.getByRole("tabpanel");
    await files.getByLabel("Path").fill("/root");
    await files.getByRole("button", { name: "Open", exact: true }).click();
    const listed = files.getByRole("list", { name: "Contents of /root" });
    await listed.or(files.getByRole("alert")).first().waitFor();
    assert.ok(await listed.isVisible(), (await files.textContent()) ?? "");
    const content = `uploaded from the browser ${Date.now()}\n`;
    await files.getByLabel("Upload into /root").setInputFiles({
      name: "up.txt",
      mimeType: "text/plain",
      buffer: Buffer.from(content),
    });
    await files.getByRole("button", { name: "Upload", exact: true }).click();
    await files.getByRole("button", { name: "up.txt" }).click();
    const link = files.getByRole("link", { name: "Download" });
    await link.waitFor();
    assert.equal(box.lxcOk(["file", "pull", `${c1}/root/up.txt`, "-"]), content);
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.equal(download.suggestedFilename(), "up.txt");
    const saved = await download.path();
    assert.equal(readFileSync(saved, "utf8"), content);
    assert.deepEqual(await unnamedControls(page), []);
  });

  test("networks: the container's DHCP lease is listed", async () => {
    type Lease = { hostname: string; address: string };
    const leases = () => JSON.parse(box.lxcOk(["query", `/1.0/networks/${net}/leases`])) as Lease[];
    assert.ok(
      await until(() => leases().some((l) => l.hostname === c1), 90_000),
      "the container asked for a lease",
    );
    const address = leases().find((l) => l.hostname === c1)?.address ?? "";
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Networks" })
      .click();
    const card = page.locator("article", { has: page.getByRole("heading", { name: net }) });
    await card.getByRole("button", { name: "Show leases and forwards" }).click();
    const lease = card.getByRole("row", {
      name: new RegExp(`${c1} ${address.replace(/\./g, "\\.")}`),
    });
    await lease.waitFor();
    assert.deepEqual(await unnamedControls(page), []);
  });

  test("images: a unified tarball imported with an alias is listed", async () => {
    // A unified image (metadata.yaml and rootfs/) from a busybox tree made here, no network.
    const files = join(box.lxcpath, "ui-image");
    const src = box.name("img");
    box.ok(["create", "-n", src, "-t", "busybox"]);
    mkdirSync(files);
    writeFileSync(
      join(files, "metadata.yaml"),
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: from the ui test\n  os: busybox\n",
    );
    const tarball = join(box.lxcpath, "ui-image.tar.gz");
    execFileSync("tar", [
      "-C",
      files,
      "--numeric-owner",
      "-czf",
      tarball,
      "metadata.yaml",
      "--transform=s,^\\.,rootfs,",
      "-C",
      join(box.lxcpath, src, "rootfs"),
      ".",
    ]);
    box.ok(["destroy", "-n", src]);

    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Images" })
      .click();
    const form = page.getByRole("form", { name: "Import an image" });
    await form.getByLabel("Image tarball").setInputFiles(tarball);
    await form.getByLabel("Alias").fill("from-ui");
    await form.getByRole("button", { name: "Import" }).click();
    const row = page.getByRole("row", { name: /from-ui/ });
    await row.waitFor({ timeout: 60_000 });
    assert.match((await row.textContent()) ?? "", /from the ui test/);
    const aliases = JSON.parse(box.lxcOk(["query", "/1.0/images/aliases/from-ui"])) as {
      target: string;
    };
    assert.match(aliases.target, /^[0-9a-f]{64}$/);
    assert.equal(
      await page.locator(".error").count(),
      0,
      await page.locator(".error").allInnerTexts().then(String),
    );
    assert.deepEqual(await unnamedControls(page), []);
  });

  test("keyboard only: Tab reaches the launch button, Enter opens the form, every control is named", async () => {
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Instances" })
      .click();
    await page.getByRole("heading", { name: "Instances" }).waitFor();
    await page.locator(`tr[data-name="${c1}"]`).waitFor();
    assert.deepEqual(await unnamedControls(page), []);
    // From the top of the page, with nothing but Tab.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement?.textContent?.trim() === "Launch");
    }
    assert.ok(reached, "Tab reaches the Launch button");
    await page.keyboard.press("Enter");
    const form = page.locator("form#launch");
    await form.waitFor();
    assert.deepEqual(await unnamedControls(page), []);
    // The first Tab from the button goes into the form.
    await page.keyboard.press("Tab");
    assert.equal(
      await page.evaluate(() => Boolean(document.activeElement?.closest("form#launch"))),
      true,
      "the next Tab is in the form",
    );
    // And the instance's own view, reached by its link with Enter, names its controls.
    await page.locator(`tr[data-name="${c1}"] a`).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("tab", { name: "Overview" }).waitFor();
    assert.deepEqual(await unnamedControls(page), []);
  });

  test("phone width: the list fits 390 px without sideways scrolling", async () => {
    const phone = await ctx.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${new URL(page.url()).origin}/ui/#/`);
    await phone.locator(`tr[data-name="${c1}"]`).waitFor();
    const widths = await phone.evaluate(() => ({
      doc: document.documentElement.scrollWidth,
      table: (() => {
        const wrap = document.querySelector(".table-wrap");
        return wrap ? wrap.scrollWidth - wrap.clientWidth : 0;
      })(),
      view: window.innerWidth,
      over: [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
        .slice(0, 5),
    }));
    assert.ok(
      widths.doc <= widths.view,
      `page ${widths.doc} px wide in ${widths.view}: ${widths.over}`,
    );
    assert.equal(
      widths.table,
      0,
      `the list scrolls sideways by ${widths.table} px: ${widths.over}`,
    );
    const row = phone.locator(`tr[data-name="${c1}"]`);
    assert.ok(await row.getByRole("link", { name: c1 }).isVisible());
    assert.ok(await row.getByText("RUNNING").isVisible());
    await phone.close();
    assert.deepEqual(pageErrors, []);
  });
});
