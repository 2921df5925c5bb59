/**
 * lxtd's images, storage and networks handlers without root (fastify
 * inject over a temp-dir state root), and the multipart reader and writer
 * split images travel in.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { BUSYBOX_FINGERPRINT } from "../../src/api/images-view.js";
import { multipartBoundary, readMultipart, writeMultipart } from "../../src/api/multipart.js";
import { buildApp } from "../../src/api/server.js";
import { optionsWithAll } from "../../src/network/set.js";
import { daemonAt } from "./support/lxtd-daemon.js";

const FP = "ab".repeat(32);

async function collect(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(Buffer.from(c as Buffer));
  return Buffer.concat(out);
}

describe("multipart bodies", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lxt-unit-mp-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("round trip, one byte per chunk: delimiters split across chunks are found", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    // Content that looks like a delimiter without being one.
    writeFileSync(a, "meta\r\n--bound\r\n--notit\r\n");
    writeFileSync(b, Buffer.alloc(70_000, 0x2d));
    const { stream, contentType } = writeMultipart(
      [
        { field: "metadata", name: "meta.tar.xz", path: a },
        { field: "rootfs", name: 'ro"ot.tar', path: b },
      ],
      "boundXYZ",
    );
    const body = await collect(stream);
    const boundary = multipartBoundary(contentType);
    assert.equal(boundary, "boundXYZ");
    const bytes = Readable.from(
      (function* () {
        for (let i = 0; i < body.length; i++) yield body.subarray(i, i + 1);
      })(),
    );
    const out = mkdtempSync(join(dir, "out-"));
    const parts = await readMultipart(bytes, boundary ?? "", out);
    assert.deepEqual(
      parts.map((p) => [p.name, p.filename, p.size]),
      [
        ["metadata", "meta.tar.xz", 24],
        ["rootfs", "ro_ot.tar", 70_000],
      ],
    );
    assert.deepEqual(readFileSync(parts[0]?.path ?? ""), readFileSync(a));
    assert.deepEqual(readFileSync(parts[1]?.path ?? ""), readFileSync(b));
  });

  it("refuses a truncated body, too many parts, a part without a name", async () => {
    const head = '--B\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n';
    const read = (s: string) =>
      readMultipart(Readable.from([Buffer.from(s)]), "B", mkdtempSync(join(dir, "r-")));
    await assert.rejects(read(`${head}abc`), /truncated/);
    await assert.rejects(
      read(`${head}a\r\n${head.slice(0)}b\r\n${head}c\r\n--B--\r\n`),
      /too many/,
    );
    await assert.rejects(
      read("--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--\r\n"),
      /no form-data name/,
    );
    assert.equal(multipartBoundary("application/octet-stream"), undefined);
    assert.throws(() => multipartBoundary("multipart/form-data; charset=x"), /boundary/);
  });
});

describe("network options from LXD keys", () => {
  it("an address applies before the range that must lie in it", () => {
    const o = optionsWithAll(undefined, {
      "ipv4.dhcp.ranges": "10.1.2.10-10.1.2.20",
      "ipv4.address": "10.1.2.1/24",
      "dns.domain": "x",
    });
    assert.deepEqual(o, { ipv4: "10.1.2.1/24", dhcpRange: "10.1.2.10-10.1.2.20", domain: "x" });
    assert.throws(() => optionsWithAll(undefined, { "bridge.mtu": "1400" }), /unknown key/);
  });
});

describe("lxtd images, storage, networks over inject", () => {
  let root: string;
  let app: ReturnType<typeof buildApp>;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "lxt-unit-imgnet-"));
    mkdirSync(join(root, "images", FP), { recursive: true });
    writeFileSync(
      join(root, "images", FP, "metadata.json"),
      JSON.stringify({ fingerprint: FP, aliases: ["one"], created: "2024-01-01T00:00:00Z" }),
    );
    const d = daemonAt(root);
    app = buildApp(d);
    await app.ready();
  });
  after(async () => {
    await app.close();
    rmSync(root, { recursive: true, force: true });
  });
  const call = async (
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    url: string,
    payload?: unknown,
  ) => {
    const r = await app.inject({
      method,
      url,
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    return { status: r.statusCode, body: r.json() as { error: string; metadata: unknown } };
  };
  const aliases = async () =>
    (
      (await call("GET", "/1.0/images/aliases?recursion=1")).body.metadata as {
        name: string;
        target: string;
      }[]
    )
      .map((a) => `${a.name}>${a.target.slice(0, 2)}`)
      .sort();

  it("aliases: create, rename, edit, delete; the built-in one stays", async () => {
    assert.equal(
      (await call("POST", "/1.0/images/aliases", { name: "two", target: "abab" })).status,
      200,
    );
    const dup = await call("POST", "/1.0/images/aliases", { name: "two", target: FP });
    assert.equal(dup.status, 409);
    assert.match(dup.body.error, /Alias "two" already exists/);
    assert.equal((await call("POST", "/1.0/images/aliases/two", { name: "three" })).status, 201);
    assert.equal(
      (await call("PATCH", "/1.0/images/aliases/three", { description: "d" })).status,
      200,
    );
    const three = await call("GET", "/1.0/images/aliases/three");
    assert.equal((three.body.metadata as { description: string }).description, "d");
    assert.deepEqual(await aliases(), [
      `busybox>${BUSYBOX_FINGERPRINT.slice(0, 2)}`,
      "one>ab",
      "three>ab",
    ]);
    assert.equal((await call("DELETE", "/1.0/images/aliases/three")).status, 200);
    const bb = await call("DELETE", "/1.0/images/aliases/busybox");
    assert.equal(bb.status, 400);
    const to = await call("POST", "/1.0/images/aliases", {
      name: "bb2",
      target: BUSYBOX_FINGERPRINT,
    });
    assert.match(to.body.error, /takes no other aliases/);
    const unknown = await call("POST", "/1.0/images/aliases", { name: "x", target: FP, color: 1 });
    assert.match(unknown.body.error, /Unknown image alias field "color"/);
    assert.deepEqual(await aliases(), [`busybox>${BUSYBOX_FINGERPRINT.slice(0, 2)}`, "one>ab"]);
  });

  it("image edit: PATCH merges properties, PUT replaces; the built-in image refuses", async () => {
    await call("PATCH", `/1.0/images/${FP}`, { properties: { os: "a" } });
    await call("PATCH", `/1.0/images/${FP}`, { properties: { release: "b" }, public: true });
    let img = (await call("GET", `/1.0/images/${FP}`)).body.metadata as {
      properties: Record<string, string>;
      public: boolean;
    };
    assert.deepEqual(img.properties, { os: "a", release: "b" });
    assert.equal(img.public, true);
    await call("PUT", `/1.0/images/${FP}`, { properties: { os: "c" } });
    img = (await call("GET", `/1.0/images/${FP}`)).body.metadata as typeof img;
    assert.deepEqual(img.properties, { os: "c" });
    assert.equal(img.public, false);
    const bb = await call("PATCH", `/1.0/images/${BUSYBOX_FINGERPRINT}`, { public: true });
    assert.match(bb.body.error, /built-in busybox image cannot be changed/);
    const noFile = await call("GET", `/1.0/images/${FP}/export`);
    assert.match(noFile.body.error, /original files are not kept/);
    const json = await call("POST", "/1.0/images", { source: { type: "instance" } });
    assert.equal(json.status, 501);
  });

  it("storage: one pool, refused changes, 404 for another", async () => {
    const pools = await call("GET", "/1.0/storage-pools");
    assert.deepEqual(pools.body.metadata, ["/1.0/storage-pools/default"]);
    const pool = (await call("GET", "/1.0/storage-pools/default")).body.metadata as {
      config: { source: string };
      used_by: string[];
    };
    assert.equal(pool.config.source, root);
    assert.deepEqual(pool.used_by, [`/1.0/images/${FP}`]);
    assert.equal(
      (await call("POST", "/1.0/storage-pools", { name: "p", driver: "dir" })).status,
      400,
    );
    assert.equal((await call("DELETE", "/1.0/storage-pools/default")).status, 400);
    assert.equal((await call("GET", "/1.0/storage-pools/p")).status, 404);
    const vols = await call("GET", "/1.0/storage-pools/default/volumes");
    assert.deepEqual(vols.body.metadata, [`/1.0/storage-pools/default/volumes/image/${FP}`]);
  });

  it("networks: unknown keys and types refused with LXD's words before anything is made", async () => {
    const r = await call("POST", "/1.0/networks", { name: "n1", config: { "bridge.mtu": "1400" } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'Invalid option for network "n1" option "bridge.mtu"');
    const t = await call("POST", "/1.0/networks", { name: "n1", type: "macvlan" });
    assert.match(t.body.error, /Network type "macvlan" is not supported/);
    assert.deepEqual(
      readdirSync(root).filter((f) => f === ".networks"),
      [],
    );
  });
});
