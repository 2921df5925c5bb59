/**
 * lxtd's trust store and HTTPS identity without root: the certificates API
 * through fastify's inject (password, tokens, edits, ETags), the store on
 * disk, the server certificate, and the HTTPS address parser.
 */
import assert from "node:assert/strict";
import { createHash, createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Daemon } from "../../src/api/daemon.js";
import { listenAddresses, splitAddress } from "../../src/api/https.js";
import { buildApp } from "../../src/api/server.js";
import { pemToDer, serverIdentity } from "../../src/api/tls.js";
import { TrustStore } from "../../src/api/trust.js";
import { decodeToken } from "../../src/api/trust-token.js";
import { testDaemon } from "./support/daemon.js";

const root = mkdtempSync(join(tmpdir(), "lxt-api-trust-"));
after(() => rmSync(root, { recursive: true, force: true }));

const daemon = (): Daemon => testDaemon(root);

/** Client certificates to trust: made the way the server makes its own. */
let certA = "";
let certB = "";
const fp = (pem: string) => createHash("sha256").update(pemToDer(pem)).digest("hex");
const b64 = (pem: string) => pemToDer(pem).toString("base64");

before(async () => {
  certA = (await serverIdentity(join(root, "a"), "client-a")).cert;
  certB = (await serverIdentity(join(root, "b"), "client-b")).cert;
});

describe("server identity", () => {
  test("made once: ECDSA P-384, key 0600, the host and loopback as names", async () => {
    const dir = join(root, "id");
    const first = await serverIdentity(dir, "host1");
    const again = await serverIdentity(dir, "other-name");
    assert.equal(again.cert, first.cert, "a second call reads what the first made");
    assert.equal(statSync(join(dir, "server.key")).mode & 0o777, 0o600);
    const x = new X509Certificate(first.cert);
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.match(x.subjectAltName ?? "", /DNS:host1/);
    assert.match(x.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.ok(x.checkPrivateKey(createPrivateKey(first.key)));
    assert.equal(first.fingerprint, createHash("sha256").update(x.raw).digest("hex"));
  });

  test("HTTPS addresses as LXD writes them", () => {
    assert.deepEqual(splitAddress("127.0.0.1:8443"), { host: "127.0.0.1", port: 8443 });
    assert.deepEqual(splitAddress("[::1]:9000"), { host: "::1", port: 9000 });
    assert.deepEqual(splitAddress(":8444"), { host: "", port: 8444 });
    assert.deepEqual(splitAddress("10.0.0.1"), { host: "10.0.0.1", port: 8443 });
    assert.throws(() => splitAddress("1.2.3.4:99999"), /Invalid HTTPS address/);
    assert.throws(() => splitAddress("a:b:c"), /Invalid HTTPS address/);
    assert.deepEqual(listenAddresses("::1", 5), ["[::1]:5"]);
    assert.deepEqual(listenAddresses("127.0.0.1", 5), ["127.0.0.1:5"]);
  });
});

describe("the certificates API", () => {
  test("a trusted client adds, lists, gets (ETag), edits and removes by prefix", async () => {
    const d = daemon();
    const app = buildApp(d);
    const add = await app.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { type: "client", name: "a", certificate: b64(certA) },
    });
    assert.equal(add.statusCode, 201, add.body);
    assert.equal(add.headers.location, `/1.0/certificates/${fp(certA)}`);
    const dup = await app.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { certificate: b64(certA) },
    });
    assert.equal(dup.statusCode, 409);
    assert.match(dup.json().error, /already in trust store/);

    const list = (await app.inject({ url: "/1.0/certificates" })).json().metadata;
    assert.deepEqual(list, [`/1.0/certificates/${fp(certA)}`]);
    const full = (await app.inject({ url: "/1.0/certificates?recursion=1" })).json().metadata;
    assert.deepEqual(
      full.map((c: { name: string; type: string; fingerprint: string }) => [
        c.name,
        c.type,
        c.fingerprint,
      ]),
      [["a", "client", fp(certA)]],
    );

    const short = fp(certA).slice(0, 12);
    const got = await app.inject({ url: `/1.0/certificates/${short}` });
    assert.equal(got.json().metadata.certificate, new X509Certificate(certA).toString());
    const etag = got.headers.etag as string;
    const stale = await app.inject({
      method: "PATCH",
      url: `/1.0/certificates/${short}`,
      headers: { "if-match": '"nope"' },
      payload: { name: "x" },
    });
    assert.equal(stale.statusCode, 412);
    const renamed = await app.inject({
      method: "PATCH",
      url: `/1.0/certificates/${short}`,
      headers: { "if-match": etag },
      payload: { name: "renamed" },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(d.trust.get(fp(certA))?.name, "renamed");
    for (const [payload, words] of [
      [{ restricted: true }, /Restricted certificates are not supported/],
      [{ projects: ["p1"] }, /Only the default project exists/],
      [{ type: "admin" }, /Unknown certificate type "admin"/],
      [{ colour: "red" }, /Unknown field "colour"/],
    ] as const) {
      const r = await app.inject({ method: "PATCH", url: `/1.0/certificates/${short}`, payload });
      assert.equal(r.statusCode, 400);
      assert.match(r.json().error, words);
    }
    // A new certificate in a PUT replaces the old one and its fingerprint.
    const put = await app.inject({
      method: "PUT",
      url: `/1.0/certificates/${short}`,
      payload: { name: "b-now", type: "client", certificate: certB },
    });
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(d.trust.get(fp(certA)), undefined);
    assert.equal(d.trust.get(fp(certB))?.name, "b-now");

    const del = await app.inject({ method: "DELETE", url: `/1.0/certificates/${fp(certB)}` });
    assert.equal(del.statusCode, 200);
    const gone = await app.inject({ url: `/1.0/certificates/${fp(certB)}` });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().error, "Certificate not found");
    const already = await app.inject({ method: "POST", url: "/1.0/certificates", payload: {} });
    assert.match(already.json().error, /Client is already trusted/);
  });

  test("untrusted: the trust password (kept hashed) admits a certificate; a wrong one is 403", async () => {
    const d = daemon();
    const admin = buildApp(d);
    const set = await admin.inject({
      method: "PATCH",
      url: "/1.0",
      payload: { config: { "core.trust_password": "s3cret" } },
    });
    assert.equal(set.statusCode, 200, set.body);
    const shown = (await admin.inject({ url: "/1.0" })).json().metadata.config;
    assert.equal(shown["core.trust_password"], "true");
    const kept = readFileSync(join(d.stateDir, "server.yaml"), "utf8");
    assert.doesNotMatch(kept, /s3cret/);
    // An edit of the whole config sends back `true`: the password stays.
    await admin.inject({ method: "PUT", url: "/1.0", payload: { config: shown } });

    const stranger = buildApp(d, { trusted: () => false });
    for (const password of ["", "wrong", "true"]) {
      const r = await stranger.inject({
        method: "POST",
        url: "/1.0/certificates",
        payload: { certificate: b64(certA), password },
      });
      assert.equal(r.statusCode, 403, `password "${password}"`);
    }
    assert.equal((await stranger.inject({ url: "/1.0/certificates" })).statusCode, 403);
    const ok = await stranger.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { certificate: b64(certA), password: "s3cret" },
    });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(d.trust.get(fp(certA))?.name, "root@client-a", "named by its CN");
    const noCert = await stranger.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { password: "s3cret" },
    });
    assert.match(noCert.json().error, /Can't use TLS data on non-TLS link/);
  });

  test("tokens: issued only while HTTPS listens, used once, revocable", async () => {
    const d = daemon();
    const admin = buildApp(d);
    const early = await admin.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { token: true, name: "t1", type: "client" },
    });
    assert.equal(early.statusCode, 400);
    assert.match(early.json().error, /isn't listening on network/);

    d.tls = { certificate: "PEM", fingerprint: "f".repeat(64), addresses: ["127.0.0.1:8443"] };
    const issued = await admin.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { token: true, name: "t1", type: "client" },
    });
    assert.equal(issued.statusCode, 202, issued.body);
    const op = issued.json().metadata;
    assert.equal(op.class, "token");
    assert.equal(op.metadata.request.name, "t1");
    const opId = op.id as string;
    const token = Buffer.from(
      JSON.stringify({
        client_name: "t1",
        fingerprint: op.metadata.fingerprint,
        addresses: op.metadata.addresses,
        secret: op.metadata.secret,
        expires_at: "0001-01-01T00:00:00Z",
      }),
    ).toString("base64");
    assert.equal(decodeToken(token)?.secret, op.metadata.secret);
    assert.equal(decodeToken("s3cret"), undefined);
    // The operation runs from the next turn.
    await new Promise((r) => setImmediate(r));
    assert.equal(d.operations.get(opId)?.status, "Running");

    const stranger = buildApp(d, { trusted: () => false });
    const use = () =>
      stranger.inject({
        method: "POST",
        url: "/1.0/certificates",
        payload: { certificate: b64(certA), password: token, name: "ignored" },
      });
    const first = await use();
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(d.trust.get(fp(certA))?.name, "t1", "the token's name, not the client's");
    await d.operations.get(opId)?.done;
    assert.equal(d.operations.get(opId)?.status, "Cancelled");
    const second = await use();
    assert.equal(second.statusCode, 403);
    assert.match(second.json().error, /No matching certificate add operation found/);

    // Revoked (the operation cancelled) before use: refused as well.
    const t2 = (
      await admin.inject({
        method: "POST",
        url: "/1.0/certificates",
        payload: { token: true, name: "t2" },
      })
    ).json().metadata;
    await new Promise((r) => setImmediate(r));
    assert.equal(
      (await admin.inject({ method: "DELETE", url: `/1.0/operations/${t2.id}` })).statusCode,
      200,
    );
    const revoked = await stranger.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: {
        certificate: b64(certB),
        trust_token: Buffer.from(
          JSON.stringify({
            client_name: "t2",
            fingerprint: "x",
            addresses: ["a"],
            secret: t2.metadata.secret,
          }),
        ).toString("base64"),
      },
    });
    assert.equal(revoked.statusCode, 403);
    const asked = await stranger.inject({
      method: "POST",
      url: "/1.0/certificates",
      payload: { token: true, password: "x" },
    });
    assert.equal(asked.statusCode, 403, "an untrusted client may not issue tokens");
  });
});

describe("the trust store on disk", () => {
  test("one file per certificate, read back; a file whose name is not its fingerprint trusts nobody", () => {
    const dir = join(root, "store");
    const s = new TrustStore(dir);
    const a = s.add(pemToDer(certA), { name: "a", type: "client" });
    s.add(pemToDer(certB), { name: "b", type: "metrics" });
    assert.equal(statSync(join(dir, `${a}.yaml`)).mode & 0o777, 0o600);
    const again = new TrustStore(dir);
    assert.deepEqual(
      again.list().map((c) => [c.name, c.type]),
      [
        ["a", "client"],
        ["b", "metrics"],
      ],
    );
    // A copy of A's entry under another fingerprint's name is not taken.
    const forged = "0".repeat(64);
    writeFileSync(join(dir, `${forged}.yaml`), readFileSync(join(dir, `${a}.yaml`)));
    assert.equal(new TrustStore(dir).get(forged), undefined);
    assert.throws(() => again.find(""), /Certificate not found/);
  });
});
