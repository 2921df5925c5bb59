/**
 * The pieces of `lxt remote` / `lxt move` that run without root: the
 * target and URL parsing, the client certificate, the remotes file, and
 * lxtd's `/1.0/migrations` refusals (the whole move: test/integration/migrate.test.ts).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { buildApp } from "../../src/api/server.js";
import { clientIdentity, makeClientCertificate } from "../../src/cli/client-cert.js";
import { parseRemoteTarget } from "../../src/cli/migrate-verb.js";
import { fingerprintOf, parseRemoteUrl, readRemotes, writeRemotes } from "../../src/cli/remote.js";
import { testDaemon } from "./support/lxtd-daemon.js";

test("REMOTE:[NEWNAME]: the remote and the new name (the same when none)", () => {
  assert.deepEqual(parseRemoteTarget("b:", "c1"), { remote: "b", newName: "c1" });
  assert.deepEqual(parseRemoteTarget("b:c2", "c1"), { remote: "b", newName: "c2" });
  assert.equal(parseRemoteTarget("c2", "c1"), undefined);
  assert.throws(() => parseRemoteTarget(":c2", "c1"), { code: "usage", message: /no remote/ });
  assert.throws(() => parseRemoteTarget("b:bad/name", "c1"), { code: "name" });
});

test("remote URLs: https only, LXD's port 8443 when none", () => {
  assert.equal(parseRemoteUrl("10.0.0.2").url, "https://10.0.0.2:8443");
  assert.equal(parseRemoteUrl("https://host.example:9443").url, "https://host.example:9443");
  assert.deepEqual(parseRemoteUrl("https://[fd00::2]"), {
    url: "https://[fd00::2]:8443",
    host: "fd00::2",
    port: 8443,
  });
  assert.throws(() => parseRemoteUrl("http://h:8443"), { code: "usage", message: /https/ });
  assert.throws(() => parseRemoteUrl("https://h:8443/x"), { code: "usage" });
});

test("the client certificate: self-signed P-384, for client auth, ten years, made once", (t) => {
  const now = new Date("2026-01-02T03:04:05Z");
  const id = makeClientCertificate("root@unit", now);
  const cert = new X509Certificate(id.cert);
  assert.ok(cert.verify(cert.publicKey), "signed by its own key");
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
  assert.equal(cert.subject, "O=lxt\nCN=root@unit");
  assert.equal(cert.issuer, cert.subject);
  assert.deepEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"]);
  assert.equal(cert.ca, false);
  assert.equal(new Date(cert.validFrom).toISOString(), "2026-01-02T03:04:05.000Z");
  assert.equal(new Date(cert.validTo).toISOString(), "2036-01-02T03:04:05.000Z");
  assert.equal(id.fingerprint, fingerprintOf(Buffer.from(cert.raw)));
  assert.ok(cert.checkPrivateKey(createPrivateKey(id.key)));

  const { root, cleanup } = testDaemon();
  t.after(cleanup);
  const dir = join(root, ".remotes");
  const first = clientIdentity(dir, "root@unit");
  assert.equal(statSync(join(dir, "client.key")).mode & 0o777, 0o600);
  assert.equal(clientIdentity(dir, "root@unit").fingerprint, first.fingerprint, "kept");
});

test("the remotes file: written and read back; an entry without a certificate is an error", (t) => {
  const { root, cleanup } = testDaemon();
  t.after(cleanup);
  const pem = makeClientCertificate("root@srv").cert;
  const remotes = new Map([
    ["b", { name: "b", url: "https://10.0.0.2:8443", certificate: pem }],
    ["a", { name: "a", url: "https://10.0.0.1:8443", certificate: pem }],
  ]);
  writeRemotes(root, remotes);
  assert.deepEqual([...readRemotes(root).keys()], ["a", "b"]);
  assert.deepEqual(readRemotes(root).get("b"), remotes.get("b"));
  assert.equal(statSync(join(root, ".remotes", "remotes.yaml")).mode & 0o777, 0o600);
  writeFileSync(join(root, ".remotes", "remotes.yaml"), "remotes:\n  x:\n    url: https://h\n");
  assert.throws(() => readRemotes(root), { code: "config", message: /remote "x" has no url/ });
});

test("/1.0/migrations: a bad or taken name is refused, an unknown id is 404, nothing spooled", async (t) => {
  const { d, root, cleanup } = testDaemon();
  t.after(cleanup);
  const app = buildApp(d);
  t.after(() => app.close());
  const upload = (url: string, method: "POST" | "PUT", headers: Record<string, string> = {}) =>
    app.inject({
      method,
      url,
      headers: { "content-type": "application/octet-stream", ...headers },
      payload: Buffer.from("x"),
    });
  const bad = await upload("/1.0/migrations", "POST", { "x-lxd-name": "no/slash" });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().error, /Invalid instance name/);
  mkdirSync(join(root, "c1"));
  writeFileSync(join(root, "c1", "config"), "");
  const taken = await upload("/1.0/migrations", "POST", { "x-lxd-name": "c1" });
  assert.equal(taken.statusCode, 409);
  assert.equal(taken.json().error, 'Instance "c1" already exists');
  for (const [method, url] of [
    ["PUT", "/1.0/migrations/0123/delta"],
    ["POST", "/1.0/migrations/0123"],
  ] as const) {
    const r = await upload(url, method);
    assert.equal(r.statusCode, 404, url);
    assert.equal(r.json().error, "Migration not found");
  }
  const uploads = join(root, ".lxtd", "uploads");
  assert.deepEqual(existsSync(uploads) ? readdirSync(uploads) : [], []);
});

/** A minimal lxt backup archive (index.json and a rootfs with one file), as tar bytes. */
function baseArchive(dir: string): Buffer {
  mkdirSync(join(dir, "rootfs"), { recursive: true });
  writeFileSync(join(dir, "rootfs", "marker"), "m\n");
  writeFileSync(
    join(dir, "index.json"),
    JSON.stringify({ format: 1, backend: "dir", dir: "/var/lib/lxt/c", name: "c", snapshots: [] }),
  );
  return execFileSync("tar", ["-c", "-f", "-", "-C", dir, "index.json", "rootfs"]);
}

test("/1.0/migrations: a base is spooled under an id and unpacked; the final step needs the delta; DELETE drops both", async (t) => {
  const { d, root, cleanup } = testDaemon();
  t.after(cleanup);
  const app = buildApp(d);
  t.after(() => app.close());
  const bad = await app.inject({
    method: "POST",
    url: "/1.0/migrations",
    headers: { "content-type": "application/octet-stream", "x-lxd-name": "c2" },
    payload: Buffer.from("base"),
  });
  assert.equal(bad.statusCode, 400, bad.body);
  assert.match(bad.json().error, /not a readable lxt backup/);
  assert.deepEqual(readdirSync(join(root, ".lxtd", "uploads")), []);
  const base = baseArchive(join(root, "src"));
  const made = await app.inject({
    method: "POST",
    url: "/1.0/migrations",
    headers: { "content-type": "application/octet-stream", "x-lxd-name": "c2" },
    payload: base,
  });
  assert.equal(made.statusCode, 200, made.body);
  const { id, name } = made.json().metadata as { id: string; name: string };
  assert.equal(name, "c2");
  const spool = join(root, ".lxtd", "uploads", `migration-${id}`);
  // The base is unpacked already (its archive gone), into a staging directory nobody sees as c2.
  assert.deepEqual(readdirSync(spool), []);
  const staged = () => readdirSync(root).filter((f) => /^\.lxt-import-[0-9a-f]+$/.test(f));
  assert.equal(staged().length, 1);
  const [stage = ""] = staged();
  assert.equal(readFileSync(join(root, stage, "rootfs", "marker"), "utf8"), "m\n");
  assert.equal(existsSync(join(root, "c2")), false);
  const twice = await app.inject({
    method: "POST",
    url: "/1.0/migrations",
    headers: { "content-type": "application/octet-stream", "x-lxd-name": "c2" },
    payload: base,
  });
  assert.equal(twice.statusCode, 409);
  assert.match(twice.json().error, /being received already/);
  const early = await app.inject({
    method: "POST",
    url: `/1.0/migrations/${id}`,
    headers: { "content-type": "application/octet-stream" },
    payload: Buffer.from("images"),
  });
  assert.equal(early.statusCode, 400);
  assert.match(early.json().error, /No delta was sent/);
  const gone = await app.inject({ method: "DELETE", url: `/1.0/migrations/${id}` });
  assert.equal(gone.statusCode, 200);
  assert.equal(existsSync(spool), false);
  assert.deepEqual(staged(), []);
  const again = await app.inject({ method: "DELETE", url: `/1.0/migrations/${id}` });
  assert.equal(again.statusCode, 404);
});
