/** One-time image secrets (lxtd's side of `lxc launch IMAGE REMOTE:NAME`), without root. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { issueImageSecret, pullImage, secretOpens, spendSecret } from "../../src/api/image-pull.js";
import { BUSYBOX_FINGERPRINT } from "../../src/api/images-view.js";
import { testDaemon } from "./support/lxtd-daemon.js";

/** Resolves once the operation's work has begun (its secret is then live). */
async function running(op: { status: string }): Promise<void> {
  while (op.status === "Pending") await new Promise((r) => setImmediate(r));
}

describe("image secrets", () => {
  test("a secret opens its image's GET and export, nothing else, until spent", async () => {
    const { d, cleanup } = testDaemon();
    try {
      const fp = "a".repeat(64);
      const op = issueImageSecret(d, fp);
      await running(op);
      const secret = String(op.metadata?.secret);
      assert.match(secret, /^[0-9a-f]{64}$/);
      assert.equal(op.json().class, "token");
      assert.equal(secretOpens(d, "GET", `/1.0/images/${fp}?secret=${secret}`), true);
      assert.equal(secretOpens(d, "GET", `/1.0/images/${fp}/export?secret=${secret}`), true);
      assert.equal(
        secretOpens(d, "GET", `/1.0/images/${"b".repeat(64)}/export?secret=${secret}`),
        false,
      );
      assert.equal(secretOpens(d, "DELETE", `/1.0/images/${fp}?secret=${secret}`), false);
      assert.equal(secretOpens(d, "GET", `/1.0/instances?secret=${secret}`), false);
      assert.equal(secretOpens(d, "GET", `/1.0/images/${fp}/export?secret=nope`), false);
      spendSecret(d, `/1.0/images/${fp}/export?secret=${secret}`);
      await op.done;
      assert.equal(op.status, "Cancelled");
      assert.equal(secretOpens(d, "GET", `/1.0/images/${fp}/export?secret=${secret}`), false);
    } finally {
      cleanup();
    }
  });

  test("a pull of an image this server has fetches nothing; an unknown one needs the source's certificate", async () => {
    const { d, cleanup } = testDaemon();
    try {
      // The source is never contacted: the built-in image is every lxtd's own.
      const fp = await pullImage(d, {
        server: "https://127.0.0.1:1",
        fingerprint: BUSYBOX_FINGERPRINT,
      });
      assert.equal(fp, BUSYBOX_FINGERPRINT);
      await assert.rejects(
        pullImage(d, { server: "http://127.0.0.1:1", fingerprint: "c".repeat(64) }),
        /Invalid source server/,
      );
      await assert.rejects(
        pullImage(d, { server: "https://127.0.0.1:1", alias: "not-here" }),
        /whole fingerprint/,
      );
      await assert.rejects(
        pullImage(d, {
          server: "https://127.0.0.1:1",
          fingerprint: "c".repeat(64),
          protocol: "simplestreams",
        }),
        /not supported/,
      );
    } finally {
      cleanup();
    }
  });
});
