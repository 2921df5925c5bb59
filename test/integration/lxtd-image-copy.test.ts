/**
 * Images between two lxtd servers, as the stock client moves them for
 * `lxc launch IMAGE REMOTE:NAME`: the source gives a one-time secret, the
 * target pulls the export over HTTPS with the source's certificate pinned;
 * the built-in busybox image is every lxtd's own and is never fetched.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LxtdSandbox, lxtdSkipReason } from "./lxtd-harness.js";

const skip = lxtdSkipReason();
if (skip) console.log(skip);

/** An untrusted GET over HTTPS (no client certificate): status and body bytes. */
function fetchAnon(address: string, path: string): Promise<{ status: number; body: Buffer }> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port: Number(port), path, rejectUnauthorized: false, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (b: Buffer) => chunks.push(b));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function httpsAddress(box: LxtdSandbox): string {
  const env = JSON.parse(box.lxcOk(["query", "/1.0"])) as { environment: { addresses: string[] } };
  return env.environment.addresses[0] ?? "";
}

describe("images between two lxtd servers", { skip, timeout: 300_000 }, () => {
  let source: LxtdSandbox;
  let target: LxtdSandbox;
  let srcAddr = "";
  let fp = "";
  let meta = "";
  let rootfsTar = "";
  before(async () => {
    source = new LxtdSandbox();
    target = new LxtdSandbox();
    // An LXD image from a busybox container's rootfs (no network).
    const files = join(source.lxcpath, "img");
    mkdirSync(join(files, "meta"), { recursive: true });
    const from = source.name("src");
    source.ok(["create", "-n", from, "-t", "busybox"]);
    const rootfs = join(source.lxcpath, from, "rootfs");
    writeFileSync(join(rootfs, "etc", "lxt-image"), "pulled\n");
    writeFileSync(
      join(files, "meta", "metadata.yaml"),
      "architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  description: pulled busybox\n  os: busybox\n",
    );
    // LXD's split layout (metadata tarball, rootfs tarball): the export is multipart.
    meta = join(files, "meta.tar.xz");
    rootfsTar = join(files, "rootfs.tar.xz");
    execFileSync("tar", ["-C", join(files, "meta"), "-cJf", meta, "metadata.yaml"]);
    execFileSync("tar", ["-C", rootfs, "--numeric-owner", "-cJf", rootfsTar, "."]);
    source.ok(["destroy", "-n", from]);
    fp = createHash("sha256")
      .update(readFileSync(meta))
      .update(readFileSync(rootfsTar))
      .digest("hex");
    await source.startDaemon(["--https", "127.0.0.1:0"]);
    await target.startDaemon(["--https", "127.0.0.1:0"]);
    srcAddr = httpsAddress(source);
    target.lxcOk(["config", "set", "core.trust_password", "SECRET"]);
    // The client: `local:` is the source's socket, `tgt:` the target over HTTPS.
    source.lxcOk([
      "remote",
      "add",
      "tgt",
      `https://${httpsAddress(target)}`,
      "--password",
      "SECRET",
      "--accept-certificate",
    ]);
    source.lxcOk(["image", "import", meta, rootfsTar, "--alias", "copyme"]);
  });
  after(async () => {
    await target?.close();
    await source?.close();
  });

  test("launch IMAGE tgt:NAME: the target pulls the image, checked, and runs it", () => {
    const c = target.name("pulled");
    source.lxcOk(["launch", "copyme", `tgt:${c}`]);
    const imgs = JSON.parse(source.lxcOk(["image", "list", "tgt:", "--format", "json"])) as {
      fingerprint: string;
    }[];
    assert.ok(
      imgs.some((i) => i.fingerprint === fp),
      "the target stored the image under its fingerprint",
    );
    assert.match(target.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    const inside = source.lxcOk(["exec", `tgt:${c}`, "--", "cat", "/etc/lxt-image"]);
    assert.equal(inside, "pulled\n");
    source.lxcOk(["delete", "-f", `tgt:${c}`]);
  });

  test("launch busybox tgt:NAME uses the target's own built-in image", () => {
    const c = target.name("bb");
    source.lxcOk(["launch", "busybox", `tgt:${c}`]);
    assert.match(target.ok(["ls", "-f"]), new RegExp(`^${c}\\s+RUNNING`, "m"));
    source.lxcOk(["delete", "-f", `tgt:${c}`]);
  });

  test("a secret opens one image's export once, to a client with no certificate", async () => {
    const none = await fetchAnon(srcAddr, `/1.0/images/${fp}/export`);
    assert.equal(none.status, 403);
    const op = JSON.parse(source.lxcOk(["query", "-X", "POST", `/1.0/images/${fp}/secret`])) as {
      metadata: { secret: string };
    };
    const secret = op.metadata.secret;
    assert.match(secret, /^[0-9a-f]{64}$/);
    const other = await fetchAnon(srcAddr, `/1.0/instances?secret=${secret}`);
    assert.equal(other.status, 403, "the secret opens nothing but its image");
    const got = await fetchAnon(srcAddr, `/1.0/images/${fp}/export?secret=${secret}`);
    assert.equal(got.status, 200);
    // Multipart (metadata, rootfs): both files' bytes are in it, whole.
    for (const f of [meta, rootfsTar]) assert.ok(got.body.includes(readFileSync(f)), f);
    const again = await fetchAnon(srcAddr, `/1.0/images/${fp}/export?secret=${secret}`);
    assert.equal(again.status, 403, "spent");
  });
});
