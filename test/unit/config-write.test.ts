import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  ConfigDocument,
  parseConfigText,
  renderEntries,
  renderEntry,
  renderValue,
} from "../../src/config/index.js";
import { LxtError } from "../../src/core/errors.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/configs");

const strip = (entries: { key: string; value: string }[]) =>
  entries.map(({ key, value }) => ({ key, value }));

describe("renderValue / renderEntries", () => {
  it("writes plain values as they are", () => {
    assert.equal(renderEntry("lxc.uts.name", "c1"), "lxc.uts.name = c1");
    assert.equal(renderEntry("lxc.cap.drop", ""), "lxc.cap.drop =");
    assert.equal(renderValue("a b # c"), "a b # c");
  });

  it("quotes values that parsing would otherwise change", () => {
    for (const v of [
      " lead",
      "trail ",
      '"quoted"',
      "'single'",
      `'mixed"`,
      "\tx",
      '"',
      "'",
      ` "x' `,
      `" '`,
    ]) {
      const text = `${renderEntry("lxc.log.file", v)}\n`;
      assert.equal(parseConfigText(text, "t")[0]?.value, v, `round trip of ${JSON.stringify(v)}`);
    }
  });

  it("refuses values that cannot be written on one line", () => {
    assert.throws(() => renderValue("a\nb"), LxtError);
    assert.throws(() => renderValue("a\rb"), LxtError);
  });

  it("round-trips every good fixture's entries", () => {
    const dir = path.join(FIXTURES, "good");
    for (const f of readdirSync(dir).filter((x) => x.endsWith(".conf"))) {
      const entries = parseConfigText(readFileSync(path.join(dir, f), "utf8"), f);
      assert.deepEqual(strip(parseConfigText(renderEntries(entries), f)), strip(entries), f);
    }
  });
});

describe("ConfigDocument", () => {
  const TEXT = [
    "# Container c1",
    "lxc.uts.name = c1",
    "",
    "# mounts",
    "lxc.mount.entry = /a a none bind 0 0",
    "lxc.tty.max=4",
    "lxc.mount.entry = /b b none bind 0 0",
    "lxc.tty.max = 6",
    "",
  ].join("\n");

  it("keeps the text exactly when nothing changes", () => {
    assert.equal(ConfigDocument.parse(TEXT, "c").toString(), TEXT);
    assert.equal(ConfigDocument.parse("lxc.a.b = 1", "c").toString(), "lxc.a.b = 1");
    assert.equal(ConfigDocument.parse("", "c").toString(), "");
    const crlf = "lxc.uts.name = x\r\n# c\r\n";
    assert.equal(ConfigDocument.parse(crlf, "c").toString(), crlf);
  });

  it("get returns the effective (last) value, getAll all of them", () => {
    const doc = ConfigDocument.parse(TEXT, "c");
    assert.equal(doc.get("lxc.tty.max"), "6");
    assert.equal(doc.get("lxc.pty.max"), undefined);
    assert.deepEqual(doc.getAll("lxc.mount.entry"), ["/a a none bind 0 0", "/b b none bind 0 0"]);
  });

  it("set replaces the first occurrence in place and drops later ones", () => {
    const doc = ConfigDocument.parse(TEXT, "c");
    doc.set("lxc.tty.max", "2");
    assert.equal(
      doc.toString(),
      [
        "# Container c1",
        "lxc.uts.name = c1",
        "",
        "# mounts",
        "lxc.mount.entry = /a a none bind 0 0",
        "lxc.tty.max = 2",
        "lxc.mount.entry = /b b none bind 0 0",
        "",
      ].join("\n"),
    );
  });

  it("set appends a key that is not there", () => {
    const doc = ConfigDocument.parse("# only a comment\n", "c");
    doc.set("lxc.uts.name", " spaced ");
    assert.equal(doc.toString(), '# only a comment\nlxc.uts.name = " spaced "\n');
    assert.equal(doc.get("lxc.uts.name"), " spaced ");
  });

  it("add puts a list value after the key's last occurrence", () => {
    const doc = ConfigDocument.parse(TEXT, "c");
    doc.add("lxc.mount.entry", "/c c none bind 0 0");
    doc.add("lxc.cap.drop", "sys_module");
    const lines = doc.toString().split("\n");
    assert.equal(lines[7], "lxc.mount.entry = /c c none bind 0 0");
    assert.equal(lines.at(-2), "lxc.cap.drop = sys_module");
  });

  it("remove drops every occurrence and says how many", () => {
    const doc = ConfigDocument.parse(TEXT, "c");
    assert.equal(doc.remove("lxc.mount.entry"), 2);
    assert.equal(doc.remove("lxc.mount.entry"), 0);
    assert.ok(!doc.toString().includes("lxc.mount.entry"));
    assert.ok(doc.toString().includes("# mounts"));
  });

  it("entries carry the document's file and current line numbers", () => {
    const doc = ConfigDocument.parse(TEXT, "/var/lib/lxt/c1/config");
    doc.remove("lxc.uts.name");
    assert.deepEqual(doc.entries()[0], {
      key: "lxc.mount.entry",
      value: "/a a none bind 0 0",
      file: "/var/lib/lxt/c1/config",
      line: 4,
    });
  });

  it("refuses malformed text and keys", () => {
    assert.throws(
      () => ConfigDocument.parse("lxc.a = 1\nnonsense\n", "f"),
      /^LxtError: f:2: missing '='/,
    );
    const doc = ConfigDocument.parse("", "f");
    assert.throws(() => doc.set("bad key", "1"), LxtError);
    assert.throws(() => doc.set("lxc.a=b", "1"), LxtError);
    assert.throws(() => doc.add("lxc.log.file", "a\nb"), LxtError);
  });
});
