import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { allPages, lxtCommand, writePages } from "../../scripts/man/pages.js";
import { ENVIRONMENT, esc, verbPageFile, visibleCommands } from "../../scripts/man/roff.js";
import { allKeySpecs } from "../../src/config/keys.js";

const ROOT = join(import.meta.dirname, "..", "..");
const hasMan = spawnSync("man", ["--version"]).status === 0;
const info = { version: "0.0.0-test", date: "2026-12-07" };

/** Every `LXT_*`/`LXTD_*` variable the front-ends read. */
function envNames(): Set<string> {
  const names = new Set<string>();
  const dir = join(ROOT, "src", "cli");
  const files = readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) =>
    f.endsWith(".ts"),
  );
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    for (const m of text.matchAll(/env(?:\.|\[")(LXTD?_[A-Z0-9_]+)/g)) names.add(m[1] as string);
    for (const m of text.matchAll(/"(LXTD?_[A-Z0-9_]+)"/g)) names.add(m[1] as string);
  }
  return names;
}

describe("man pages", () => {
  const pages = allPages(info);
  const page = (file: string) => pages.find((p) => p.file === file);
  let dir = "";
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lxt-man-"));
    writePages(dir, pages);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("every verb and alias has its page, and each page lists the verb's subcommands", () => {
    const verbs = visibleCommands(lxtCommand());
    assert.ok(verbs.length >= 20, `verbs found: ${verbs.length}`);
    for (const verb of verbs) {
      const own = page(verbPageFile(verb.name()));
      assert.ok(own, `lxt-${verb.name()}(1) exists`);
      assert.ok(verb.description().length > 0, `${verb.name()} has a description for its page`);
      for (const alias of verb.aliases()) assert.ok(page(verbPageFile(alias)), `alias ${alias}`);
      for (const sub of visibleCommands(verb)) {
        assert.ok(
          own.text.includes(`.SS lxt ${esc(verb.name())} ${esc(sub.name())}`),
          `${verb.name()} ${sub.name()}`,
        );
      }
      for (const opt of verb.options) {
        if (!opt.hidden && opt.long !== "--help")
          assert.ok(own.text.includes(esc(opt.long ?? opt.flags)), `${verb.name()} ${opt.flags}`);
      }
      const lxt = page("lxt.1")?.text ?? "";
      assert.ok(
        lxt.includes(`lxt\\-${esc(verb.name())} (1)`),
        `lxt(1) names lxt-${verb.name()}(1)`,
      );
    }
  });

  test("lxt.container.conf(5) has every registered key with its status", () => {
    const conf = page("lxt.container.conf.5")?.text ?? "";
    const specs = allKeySpecs();
    assert.ok(specs.length > 100);
    for (const spec of specs) {
      const at = conf.indexOf(`.B ${esc(spec.name)}\n`);
      assert.ok(at >= 0, `key ${spec.name}`);
      const entry = conf.slice(at, conf.indexOf(".TP", at));
      const status = {
        implemented: "implemented",
        ignored: "ignored",
      }[spec.status];
      assert.ok(entry.includes(status), `${spec.name}: ${status}`);
    }
  });

  test("each systemd unit's Documentation= names pages that exist", () => {
    const units = readdirSync(join(ROOT, "scripts")).filter((f) => f.endsWith(".service"));
    assert.ok(units.length > 0);
    for (const unit of units) {
      const text = readFileSync(join(ROOT, "scripts", unit), "utf8");
      const refs = [...text.matchAll(/^Documentation=(.*)$/gm)].flatMap((m) =>
        (m[1] as string).trim().split(/\s+/),
      );
      assert.ok(refs.length > 0, `${unit}: no Documentation=`);
      for (const ref of refs) {
        const m = /^man:([a-z.-]+)\((\d)\)$/.exec(ref);
        assert.ok(m, `${unit}: ${ref} is not man:PAGE(SECTION)`);
        assert.ok(page(`${m[1]}.${m[2]}`), `${unit}: ${ref}: lxt makes no such page`);
      }
    }
  });

  test("lxt(1) and lxtd(8) describe every LXT_ variable the front-ends read", () => {
    const documented = new Set(ENVIRONMENT.map(([n]) => n));
    const lxtd = page("lxtd.8")?.text ?? "";
    for (const name of envNames()) {
      assert.ok(documented.has(name) || lxtd.includes(`.B ${name}`), `${name} is documented`);
    }
  });

  test("man renders each page with no warning; `man lxt start` finds lxt-start", {
    skip: hasMan ? false : "SKIP: no man (man-db)",
  }, () => {
    const man = (...args: string[]) =>
      spawnSync("man", ["--warnings", "-M", dir, ...args], {
        encoding: "utf8",
        env: { ...process.env, MANWIDTH: "80", MANPAGER: "cat", PAGER: "cat", LANG: "C.UTF-8" },
      });
    for (const p of pages) {
      const name = p.file.replace(/\.\d$/, "");
      const r = man(String(p.section), name);
      assert.equal(r.status, 0, `${p.file}: ${r.stderr}`);
      assert.equal(r.stderr, "", `${p.file}: warnings`);
      assert.match(r.stdout, /^NAME$/m, `${p.file} rendered`);
    }
    const start = man("lxt", "start");
    assert.equal(start.status, 0, start.stderr);
    assert.match(start.stdout, /^LXT-START\(1\)/m);
  });
});
