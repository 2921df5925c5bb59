/**
 * `npm run bench:ui` (root): the web UI's two speed figures, measured, never
 * asserted (bench/RESULTS.md has the last run's):
 *
 * 1. first paint of `/ui/` from a local lxtd: chromium's first-contentful-paint
 *    of the page, cold (empty cache, a new browser context) and warm (a
 *    reload), and the time until the list shows every instance;
 * 2. the daemon's CPU at idle with the list open on BENCH_UI_N (100) running
 *    containers: lxtd's CPU time, its reaped children's included, from /proc over BENCH_UI_SECS (60) while
 *    the page sits open (events websocket, a poll every 5 s), as % of one
 *    core, beside the same window with no browser at all.
 *
 * The containers are busybox with an empty network (lo only), in a temporary
 * state root; the daemon runs in the host's namespace with no managed
 * network (LXT_NO_HOST_NETWORK=1). Everything is stopped and removed after.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { browserSkip, launchBrowser } from "../test/integration/browser.js";
import { LXT } from "../test/integration/harness.js";
import { LxtdSandbox, lxtdSkipReason } from "../test/integration/lxtd-harness.js";

const N = Number(process.env.BENCH_UI_N ?? 100);
const SECS = Number(process.env.BENCH_UI_SECS ?? 60);
const RUNS = 7;

function lxt(box: LxtdSandbox, args: string[]): string {
  const r = spawnSync(LXT, [...args, "-P", box.lxcpath], {
    encoding: "utf8",
    env: { ...process.env, LXT_NO_HOST_NETWORK: "1" },
  });
  if (r.status !== 0) throw new Error(`lxt ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * CPU seconds (user + system) a process has used, with those of its
 * children it has reaped (the helpers and `ip` it runs per request are its cost too).
 */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime, in clock ticks (USER_HZ = 100)
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
}

async function idleCpu(pid: number, secs: number): Promise<number> {
  const a = cpuSeconds(pid);
  const t = performance.now();
  await new Promise((r) => setTimeout(r, secs * 1000));
  return ((cpuSeconds(pid) - a) / ((performance.now() - t) / 1000)) * 100;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function uiUrl(box: LxtdSandbox): string {
  return lxt(box, ["ui"]).trim();
}

/** A new context logged in with a fresh token, its page showing all N rows. */
async function loggedIn(browser: Browser, box: LxtdSandbox) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  await page.goto(uiUrl(box));
  await allListed(page);
  return { ctx, page };
}

const allListed = (page: Page) =>
  page
    .locator("tr[data-name]")
    .nth(N - 1)
    .waitFor({ timeout: 60_000 });

async function paints(browser: Browser, box: LxtdSandbox) {
  const cold: number[] = [];
  const warm: number[] = [];
  const listed: number[] = [];
  const fcp = () =>
    performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN;
  for (let i = 0; i < RUNS; i++) {
    const { ctx, page } = await loggedIn(browser, box);
    const origin = new URL(page.url()).origin;
    // Cold: a context with the session cookie and nothing cached.
    const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await fresh.addCookies(await ctx.cookies());
    const page2 = await fresh.newPage();
    const t0 = Date.now();
    await page2.goto(`${origin}/ui/`);
    await allListed(page2);
    listed.push(Date.now() - t0);
    cold.push(await page2.evaluate(fcp));
    await page2.reload();
    await page2.waitForFunction(
      () => performance.getEntriesByName("first-contentful-paint").length > 0,
    );
    warm.push(await page2.evaluate(fcp));
    await fresh.close();
    await ctx.close();
  }
  return { cold, warm, listed };
}

async function main(): Promise<void> {
  const skip = lxtdSkipReason() ?? browserSkip();
  if (skip) throw new Error(skip);
  const box = new LxtdSandbox();
  try {
    const names = Array.from({ length: N }, () => box.name("ui"));
    process.stderr.write(`bench:ui: creating and starting ${N} containers…\n`);
    for (const n of names) lxt(box, ["create", "-n", n, "-t", "busybox", "--network", "empty"]);
    lxt(box, ["start", "--all"]);
    await box.startDaemon();
    const pid = box.daemon?.pid ?? 0;
    const poll = [];
    const c0 = cpuSeconds(pid);
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      box.lxcOk(["query", "/1.0/instances?recursion=2"]);
      poll.push(performance.now() - t);
    }
    const pollCpu = ((cpuSeconds(pid) - c0) / 5) * 1000;
    process.stderr.write(`bench:ui: lxtd idle, no client, ${SECS} s…\n`);
    const bare = await idleCpu(pid, SECS);
    const browser = await launchBrowser();
    const p = await paints(browser, box);
    const { page } = await loggedIn(browser, box);
    let polls = 0;
    page.on("request", (r) => {
      if (r.url().includes("/1.0/instances?recursion=2")) polls++;
    });
    process.stderr.write(`bench:ui: lxtd with the list open, ${SECS} s…\n`);
    const open = await idleCpu(pid, SECS);
    await browser.close();
    const f = (x: number) => x.toFixed(0);
    const table = [
      `| figure (${N} running busybox containers, median of ${RUNS}) | value |`,
      "| --- | --- |",
      `| first contentful paint of /ui/, cold (new context) | ${f(median(p.cold))} ms (${p.cold.map(f).join(", ")}) |`,
      `| first contentful paint of /ui/, warm (reload) | ${f(median(p.warm))} ms (${p.warm.map(f).join(", ")}) |`,
      `| navigation to all ${N} rows listed | ${f(median(p.listed))} ms (${p.listed.map(f).join(", ")}) |`,
      `| \`lxc query /1.0/instances?recursion=2\` (the list's poll, client included) | ${f(median(poll))} ms |`,
      `| lxtd CPU per list poll (its children's included) | ${f(pollCpu)} ms: ${((pollCpu / 5000) * 100).toFixed(1)}% of a core at one poll per 5 s |`,
      `| lxtd CPU at idle, no client (${SECS} s) | ${bare.toFixed(2)}% of a core |`,
      `| lxtd CPU at idle, list open in chromium (${SECS} s; ${polls} polls) | ${open.toFixed(2)}% of a core |`,
    ];
    process.stdout.write(`${table.join("\n")}\n`);
  } finally {
    await box.stopDaemon();
    spawnSync(LXT, ["stop", "-k", "--all", "-P", box.lxcpath], { stdio: "ignore" });
    await box.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:ui: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
