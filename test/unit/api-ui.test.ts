/**
 * lxtd's web UI without root: its files served with their types and
 * caching, the login (one-time tokens for sessions), and the API's trust
 * check taking a session, through fastify's inject.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import type { Daemon } from "../../src/api/daemon.js";
import { buildApp } from "../../src/api/server.js";
import { LOCAL_TOKEN_MS, SESSION_IDLE_MS, SESSION_MS, UiSessions } from "../../src/api/ui-auth.js";
import { daemonAt } from "./support/lxtd-daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-ui-"));
after(() => rmSync(root, { recursive: true, force: true }));

const LOGIN_SCRIPT = "document.title='x'";
const ui = join(root, "ui");
mkdirSync(join(ui, "assets"), { recursive: true });
writeFileSync(join(ui, "index.html"), "<!doctype html><title>lxt</title>");
writeFileSync(
  join(ui, "login.html"),
  `<!doctype html><form></form><script>${LOGIN_SCRIPT}</script>`,
);
const APP_JS = `console.log(${JSON.stringify("x".repeat(3000))})`;
writeFileSync(join(ui, "assets", "main-ABC.js"), APP_JS);
writeFileSync(join(ui, "assets", "main-ABC.js.gz"), gzipSync(APP_JS));

function daemon(uiDir = ui): Daemon {
  const d = daemonAt(mkdtempSync(join(root, "state-")), undefined, uiDir);
  d.uiLocal = { ensure: async () => "http://127.0.0.1:8999" };
  return d;
}

/** The socket's app (trusted) and a browser's (trusted by nothing but a session). */
function apps(d: Daemon) {
  return { socket: buildApp(d), browser: buildApp(d, { trusted: () => false }) };
}

async function token(d: Daemon, body: object = {}): Promise<{ token: string; urls: string[] }> {
  const r = await apps(d).socket.inject({ method: "POST", url: "/ui/token", payload: body });
  assert.equal(r.statusCode, 200, r.body);
  return r.json().metadata;
}

async function login(d: Daemon, browser = apps(d).browser): Promise<string> {
  const t = await token(d);
  const r = await browser.inject({
    method: "POST",
    url: "/ui/login",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: `token=${t.token}`,
  });
  assert.equal(r.statusCode, 303);
  assert.equal(r.headers.location, "/ui/");
  const cookie = String(r.headers["set-cookie"]);
  return /lxt_session=[0-9a-f]{64}/.exec(cookie)?.[0] ?? assert.fail(cookie);
}

describe("web UI: an untrusted browser", () => {
  const d = daemon();
  const { browser } = apps(d);
  test("sees only the login page", async () => {
    const home = await browser.inject({ url: "/ui/" });
    assert.equal(home.statusCode, 303);
    assert.equal(home.headers.location, "/ui/login");
    assert.equal((await browser.inject({ url: "/ui" })).headers.location, "/ui/");
    for (const url of ["/1.0/instances", "/ui/assets/main-ABC.js", "/1.0/images", "/1.0/events"]) {
      const r = await browser.inject({ url });
      assert.equal(r.statusCode, 403, url);
    }
    const tok = await browser.inject({ method: "POST", url: "/ui/token", payload: {} });
    assert.equal(tok.statusCode, 403, "no token for the untrusted");
    const page = await browser.inject({ url: "/ui/login" });
    assert.equal(page.statusCode, 200);
    assert.equal(page.headers["content-type"], "text/html; charset=utf-8");
    assert.equal(page.headers["cache-control"], "no-cache");
    const hash = createHash("sha256").update(LOGIN_SCRIPT).digest("base64");
    const csp = String(page.headers["content-security-policy"]);
    assert.match(csp, new RegExp(`script-src 'self' 'sha256-${hash.replace(/[+/]/g, "\\$&")}'`));
    assert.match(csp, /frame-ancestors 'none'/);
  });
});

describe("web UI: tokens and sessions", () => {
  test("a token is good for one login; the session opens the API and the UI", async () => {
    const d = daemon();
    const { browser } = apps(d);
    const t = await token(d);
    assert.deepEqual(t.urls, [`http://127.0.0.1:8999/ui/login#token=${t.token}`]);
    const first = await browser.inject({
      method: "POST",
      url: "/ui/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: `token=${t.token}`,
    });
    const cookie = String(first.headers["set-cookie"]);
    assert.match(
      cookie,
      /^lxt_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    const again = await browser.inject({
      method: "POST",
      url: "/ui/login",
      payload: { token: t.token },
    });
    assert.equal(again.statusCode, 303);
    assert.equal(again.headers.location, "/ui/login?failed=1", "a spent token opens nothing");
    assert.equal(again.headers["set-cookie"], undefined);

    const session = /lxt_session=[0-9a-f]{64}/.exec(cookie)?.[0] ?? "";
    const list = await browser.inject({ url: "/1.0/instances", headers: { cookie: session } });
    assert.equal(list.statusCode, 200);
    const server = await browser.inject({ url: "/1.0", headers: { cookie: session } });
    assert.equal(server.json().metadata.auth, "trusted");
    const home = await browser.inject({ url: "/ui/", headers: { cookie: session } });
    assert.equal(home.statusCode, 200);
    assert.match(home.body, /<title>lxt<\/title>/);
    const loginAgain = await browser.inject({ url: "/ui/login", headers: { cookie: session } });
    assert.equal(loginAgain.headers.location, "/ui/", "logged in: no login page");
  });

  test("a session from another origin, or a made-up one, is refused", async () => {
    const d = daemon();
    const { browser } = apps(d);
    const session = await login(d, browser);
    const cross = await browser.inject({
      url: "/1.0/instances",
      headers: { cookie: session, origin: "http://evil.example", host: "127.0.0.1:8999" },
    });
    assert.equal(cross.statusCode, 403);
    const same = await browser.inject({
      url: "/1.0/instances",
      headers: { cookie: session, origin: "http://127.0.0.1:8999", host: "127.0.0.1:8999" },
    });
    assert.equal(same.statusCode, 200);
    const forged = await browser.inject({
      url: "/1.0/instances",
      headers: { cookie: `lxt_session=${"0".repeat(64)}` },
    });
    assert.equal(forged.statusCode, 403);
  });

  test("a session cannot make tokens; logout ends it", async () => {
    const d = daemon();
    const { browser } = apps(d);
    const session = await login(d, browser);
    const mint = await browser.inject({
      method: "POST",
      url: "/ui/token",
      headers: { cookie: session },
      payload: {},
    });
    assert.equal(mint.statusCode, 403);
    assert.match(mint.json().error, /cannot make login tokens/);
    const certToken = await browser.inject({
      method: "POST",
      url: "/1.0/certificates",
      headers: { cookie: session },
      payload: { token: true, name: "laptop" },
    });
    assert.equal(certToken.statusCode, 403, "no lasting trust from a session");
    assert.match(certToken.json().error, /cannot change the trust store/);
    const list = await browser.inject({ url: "/1.0/certificates", headers: { cookie: session } });
    assert.equal(list.statusCode, 200, "reading the trust store is fine");
    const out = await browser.inject({
      method: "POST",
      url: "/ui/logout",
      headers: { cookie: session },
    });
    assert.equal(out.statusCode, 303);
    assert.match(String(out.headers["set-cookie"]), /Max-Age=0/);
    const after = await browser.inject({ url: "/1.0/instances", headers: { cookie: session } });
    assert.equal(after.statusCode, 403);
  });

  test("token requests: bad bodies and HTTPS without a listener are refused in words", async () => {
    const d = daemon();
    const { socket } = apps(d);
    const bad = await socket.inject({
      method: "POST",
      url: "/ui/token",
      payload: { expiry: "1h" },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /"expiry"/);
    const unknown = await socket.inject({ method: "POST", url: "/ui/token", payload: { ttl: 1 } });
    assert.match(unknown.json().error, /Unknown field.*"ttl"/);
    const https = await socket.inject({
      method: "POST",
      url: "/ui/token",
      payload: { https: true },
    });
    assert.equal(https.statusCode, 400);
    assert.match(https.json().error, /does not listen on HTTPS/);
    const unbuilt = daemon(join(root, "nothing-here"));
    const r = await apps(unbuilt).socket.inject({ method: "POST", url: "/ui/token", payload: {} });
    assert.equal(r.statusCode, 503);
    assert.match(r.json().error, /not built/);
  });

  test("expiry: tokens, idle sessions and old sessions end", () => {
    let now = 1_000_000;
    const s = new UiSessions(() => now);
    const stale = s.issueToken().token;
    now += LOCAL_TOKEN_MS;
    assert.equal(s.redeem(stale), undefined, "an expired token");
    const id = s.redeem(s.issueToken().token) ?? assert.fail("a fresh token");
    now += SESSION_IDLE_MS - 1;
    assert.ok(s.live(id), "used just before the idle limit");
    now += SESSION_IDLE_MS;
    assert.equal(s.live(id), false, "idle past the limit");
    const busy = s.redeem(s.issueToken().token) ?? assert.fail("a fresh token");
    const start = now;
    while (now < start + SESSION_MS - 60_000) {
      now += SESSION_IDLE_MS / 2;
      assert.ok(s.live(busy) || now >= start + SESSION_MS);
    }
    now = start + SESSION_MS;
    assert.equal(s.live(busy), false, "past the absolute limit, however busy");
  });
});

describe("web UI: files", () => {
  test("assets: trusted only, cached for good, gzip when asked, 304 on a match", async () => {
    const d = daemon();
    const { browser } = apps(d);
    const session = await login(d, browser);
    const plain = await browser.inject({
      url: "/ui/assets/main-ABC.js",
      headers: { cookie: session },
    });
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.headers["content-type"], "text/javascript; charset=utf-8");
    assert.equal(plain.headers["cache-control"], "public, max-age=31536000, immutable");
    assert.equal(plain.body, APP_JS);
    const gz = await browser.inject({
      url: "/ui/assets/main-ABC.js",
      headers: { cookie: session, "accept-encoding": "gzip, br" },
    });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.ok(gz.rawPayload.length < APP_JS.length);
    const again = await browser.inject({
      url: "/ui/assets/main-ABC.js",
      headers: { cookie: session, "if-none-match": String(plain.headers.etag) },
    });
    assert.equal(again.statusCode, 304);
    const missing = await browser.inject({
      url: "/ui/assets/nope.js",
      headers: { cookie: session },
    });
    assert.equal(missing.statusCode, 404);
  });
});

describe("lxt ui: --expiry", () => {
  test("durations in s, m, h, d up to 7 days; anything else is a usage error naming the flag", async () => {
    const { durationSeconds } = await import("../../src/cli/verbs/ui.js");
    assert.equal(durationSeconds("--expiry", "90"), 90);
    assert.equal(durationSeconds("--expiry", "10m"), 600);
    assert.equal(durationSeconds("--expiry", "12h"), 43200);
    assert.equal(durationSeconds("--expiry", "7d"), 604800);
    for (const bad of ["0", "8d", "1w", "-1h", "h", ""]) {
      assert.throws(
        () => durationSeconds("--expiry", bad),
        (e: Error & { code?: string }) =>
          e.code === "usage" && e.message.startsWith(`--expiry ${bad}: expected a duration`),
        bad,
      );
    }
  });
});
