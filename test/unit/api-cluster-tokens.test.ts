import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test } from "node:test";
import { MemoryStore } from "../../src/api/cluster-store.js";
import { admit, TRUST_KEYS, trustedFingerprints } from "../../src/api/cluster-tokens.js";
import { decodeJoinToken, tokenOfMetadata } from "../../src/api/join-token.js";

const NOW = Date.parse("2026-01-01T00:00:00Z");

/** A token as a member issues it: its record in the store and the text the new member gets. */
async function issued(store: MemoryStore, name: string, issuerFp: string, expires = NOW + 1000) {
  const secret = randomBytes(32).toString("hex");
  const hash = createHash("sha256").update(secret).digest("hex");
  const expiresAt = new Date(expires).toISOString();
  await store.put(
    TRUST_KEYS.token(name),
    JSON.stringify({ hash, expires_at: expiresAt, issuer: "m0" }),
  );
  return tokenOfMetadata({
    serverName: name,
    secret,
    fingerprint: issuerFp,
    addresses: ["127.0.0.1:8443"],
    expiresAt,
  });
}

test("the first member founds the trust; later ones without a token join untrusted", async () => {
  const store = new MemoryStore();
  assert.deepEqual(await admit(store, "m0", "fp0", undefined, NOW), { trusted: true });
  assert.deepEqual(await admit(store, "m1", "fp1", undefined, NOW), { trusted: false });
  // m0 restarted: still trusted.
  assert.deepEqual(await admit(store, "m0", "fp0", undefined, NOW), { trusted: true });
  assert.deepEqual([...(await trustedFingerprints(store))], ["fp0"]);
});

test("a token admits once, for its name, from a trusted issuer, before it expires", async () => {
  const store = new MemoryStore();
  await admit(store, "m0", "fp0", undefined, NOW);
  const t = await issued(store, "m1", "fp0");
  assert.equal(decodeJoinToken(t).server_name, "m1");
  await assert.rejects(admit(store, "m2", "fp2", t, NOW), /token is for member m1, not m2/);
  assert.deepEqual(await admit(store, "m1", "fp1", t, NOW), { trusted: true });
  assert.ok((await trustedFingerprints(store)).has("fp1"));
  await assert.rejects(admit(store, "m1", "fpX", t, NOW), /already used/);
  const late = await issued(store, "m3", "fp0", NOW - 1);
  await assert.rejects(admit(store, "m3", "fp3", late, NOW), /expired at/);
  const stranger = await issued(store, "m4", "fp-unknown");
  await assert.rejects(admit(store, "m4", "fp4", stranger, NOW), /not issued by a member/);
  assert.throws(() => decodeJoinToken("%%%"), /not a join token/);
});
