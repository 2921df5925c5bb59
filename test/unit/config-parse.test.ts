import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type ConfigFs,
  parseConfigFile,
  parseConfigLine,
  parseConfigText,
} from "../../src/config/index.js";
import { LxtError } from "../../src/core/errors.js";

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "../fixtures/configs");

/** An in-memory ConfigFs: keys ending in "/" are directories. */
function fakeFs(files: Record<string, string>): ConfigFs & { reads: string[] } {
  const reads: string[] = [];
  const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: "ENOENT" });
  const isDir = (p: string) =>
    Object.keys(files).some((f) => f.startsWith(`${p.replace(/\/$/, "")}/`));
  return {
    reads,
    readFile(p) {
      reads.push(p);
      const text = files[p];
      if (text === undefined)
        throw isDir(p) ? Object.assign(new Error("EISDIR"), { code: "EISDIR" }) : enoent(p);
      return text;
    },
    stat(p) {
      if (files[p] !== undefined) return { isDirectory: () => false };
      if (isDir(p)) return { isDirectory: () => true };
      throw enoent(p);
    },
    readdir(p) {
      const prefix = `${p.replace(/\/$/, "")}/`;
      const names = Object.keys(files)
        .filter((f) => f.startsWith(prefix))
        .map((f) => f.slice(prefix.length).split("/")[0] as string);
      return [...new Set(names)].reverse();
    },
  };
}

function configErrorAt(file: string, line: number, substring: string) {
  return (err: unknown) => {
    assert.ok(err instanceof LxtError, String(err));
    assert.equal(err.code, "config");
    assert.ok(err.message.startsWith(`${file}:${line}: `), err.message);
    assert.ok(err.message.includes(substring), err.message);
    return true;
  };
}

describe("parseConfigLine", () => {
  it("classifies blank and comment lines", () => {
    assert.equal((parseConfigLine("") as { kind: string }).kind, "blank");
    assert.equal((parseConfigLine("   \t") as { kind: string }).kind, "blank");
    assert.equal((parseConfigLine("# c") as { kind: string }).kind, "comment");
    assert.equal((parseConfigLine("   # indented") as { kind: string }).kind, "comment");
  });

  it("takes key = value with or without blanks around =", () => {
    for (const raw of [
      "lxc.tty.max = 4",
      "lxc.tty.max=4",
      "  lxc.tty.max\t=\t4  ",
      "lxc.tty.max =4\r",
    ]) {
      assert.deepEqual(parseConfigLine(raw), {
        kind: "entry",
        raw,
        key: "lxc.tty.max",
        value: "4",
      });
    }
  });

  it("keeps internal spaces, '=' and '#' in values", () => {
    const l = parseConfigLine("lxc.mount.entry = a b none bind,x=y 0 0 # c") as { value: string };
    assert.equal(l.value, "a b none bind,x=y 0 0 # c");
  });

  it("removes one pair of matching quotes, as LXC", () => {
    assert.equal((parseConfigLine('lxc.uts.name = "c1"') as { value: string }).value, "c1");
    assert.equal((parseConfigLine("lxc.uts.name = 'c1'") as { value: string }).value, "c1");
    assert.equal((parseConfigLine(`lxc.uts.name = "c1'`) as { value: string }).value, `"c1'`);
    assert.equal((parseConfigLine('lxc.uts.name = "') as { value: string }).value, '"');
    assert.equal((parseConfigLine('lxc.uts.name = ""') as { value: string }).value, "");
  });

  it("allows an empty value", () => {
    assert.equal((parseConfigLine("lxc.cap.drop =") as { value: string }).value, "");
  });

  it("reports malformed lines", () => {
    assert.match(parseConfigLine("lxc.tty.max 4") as string, /missing '='/);
    assert.match(parseConfigLine("= 4") as string, /missing key/);
    assert.match(parseConfigLine("lxc tty = 4") as string, /malformed key/);
  });
});

describe("parseConfigText", () => {
  it("returns entries in order with 1-based line numbers, keeping repeats", () => {
    const text = "# header\n\nlxc.cap.drop = a\nlxc.cap.drop = b\nlxc.include = x.conf\n";
    assert.deepEqual(parseConfigText(text, "c1.conf"), [
      { key: "lxc.cap.drop", value: "a", file: "c1.conf", line: 3 },
      { key: "lxc.cap.drop", value: "b", file: "c1.conf", line: 4 },
      { key: "lxc.include", value: "x.conf", file: "c1.conf", line: 5 },
    ]);
  });

  it("handles CRLF and a missing final newline", () => {
    assert.deepEqual(
      parseConfigText("lxc.a.b = 1\r\nlxc.c = 2", "f").map((e) => [e.key, e.value, e.line]),
      [
        ["lxc.a.b", "1", 1],
        ["lxc.c", "2", 2],
      ],
    );
  });

  it("names the file and line of a syntax error", () => {
    assert.throws(
      () => parseConfigText("lxc.a = 1\n\nbogus\n", "conf/x"),
      configErrorAt("conf/x", 3, "missing '='"),
    );
  });
});

describe("parseConfigFile includes (fake fs)", () => {
  it("includes a file in place, relative to the including file", () => {
    const fs = fakeFs({
      "/c/config": "lxc.a = 1\nlxc.include = sub/part.conf\nlxc.c = 3\n",
      "/c/sub/part.conf": "lxc.b = 2\n",
    });
    assert.deepEqual(
      parseConfigFile("/c/config", fs).map((e) => `${e.file}:${e.line} ${e.key}`),
      ["/c/config:1 lxc.a", "/c/sub/part.conf:1 lxc.b", "/c/config:3 lxc.c"],
    );
  });

  it("includes every *.conf of a directory in sorted order, skipping others", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = /d\n",
      "/d/b.conf": "lxc.b = 1\n",
      "/d/a.conf": "lxc.a = 1\n",
      "/d/README": "not a config\n",
      "/d/.conf": "lxc.hidden = 1\n",
      "/d/c.conf.orig": "lxc.orig = 1\n",
    });
    assert.deepEqual(
      parseConfigFile("/c/config", fs).map((e) => e.key),
      ["lxc.a", "lxc.b"],
    );
  });

  it("includes nested files with their own relative paths", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = ../shared/common.conf\n",
      "/shared/common.conf": "lxc.include = common.d/\n",
      "/shared/common.d/x.conf": "lxc.x = 1\n",
    });
    assert.deepEqual(
      parseConfigFile("/c/config", fs).map((e) => [e.file, e.key]),
      [["/shared/common.d/x.conf", "lxc.x"]],
    );
  });

  it("treats an empty lxc.include as nothing to read", () => {
    const fs = fakeFs({ "/c/config": "lxc.include =\nlxc.a = 1\n" });
    assert.deepEqual(
      parseConfigFile("/c/config", fs).map((e) => e.key),
      ["lxc.a"],
    );
  });

  it("fails on a missing include, at the include line", () => {
    const fs = fakeFs({ "/c/config": "lxc.a = 1\nlxc.include = nope.conf\n" });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt("/c/config", 2, "no such file or directory"),
    );
  });

  it("accepts a missing drop-in directory written with a trailing slash", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = /usr/share/lxc/config/userns.conf.d/\nlxc.a = 1\n",
    });
    assert.deepEqual(
      parseConfigFile("/c/config", fs).map((e) => e.key),
      ["lxc.a"],
    );
  });

  it("fails when a trailing-slash include is a file", () => {
    const fs = fakeFs({ "/c/config": "lxc.include = f/\n", "/c/f": "lxc.a = 1\n" });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt("/c/config", 1, "not a directory"),
    );
  });

  it("detects a self-include", () => {
    const fs = fakeFs({ "/c/config": "lxc.include = config\n" });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt("/c/config", 1, "include cycle"),
    );
  });

  it("detects a cycle through two files, at the line closing it", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = a.conf\n",
      "/c/a.conf": "lxc.a = 1\nlxc.include = b.conf\n",
      "/c/b.conf": "\nlxc.include = a.conf\n",
    });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt(
        "/c/b.conf",
        2,
        "include cycle: /c/config -> /c/a.conf -> /c/b.conf -> /c/a.conf",
      ),
    );
  });

  it("detects a cycle through a directory include", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = d\n",
      "/c/d/x.conf": "lxc.include = ../config\n",
    });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt("/c/d/x.conf", 1, "include cycle"),
    );
  });

  it("allows the same file to be included twice (not a cycle)", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = p.conf\nlxc.include = p.conf\n",
      "/c/p.conf": "lxc.p = 1\n",
    });
    assert.equal(parseConfigFile("/c/config", fs).length, 2);
  });

  it("reports errors inside an included file at that file's line", () => {
    const fs = fakeFs({
      "/c/config": "lxc.include = p.conf\n",
      "/c/p.conf": "lxc.a = 1\nbroken\n",
    });
    assert.throws(
      () => parseConfigFile("/c/config", fs),
      configErrorAt("/c/p.conf", 2, "missing '='"),
    );
  });

  it("reports an unreadable top-level file as a config error", () => {
    assert.throws(
      () => parseConfigFile("/nope", fakeFs({})),
      (err: unknown) =>
        err instanceof LxtError && err.code === "config" && /read config \/nope/.test(err.message),
    );
  });
});

describe("parseConfigFile includes (temp dir)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "lxt-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads real files and directories", () => {
    mkdirSync(path.join(dir, "conf.d"));
    writeFileSync(path.join(dir, "config"), "lxc.uts.name = t\nlxc.include = conf.d\n");
    writeFileSync(path.join(dir, "conf.d", "20.conf"), "lxc.tty.max = 2\n");
    writeFileSync(path.join(dir, "conf.d", "10.conf"), "lxc.tty.max = 1\n");
    assert.deepEqual(
      parseConfigFile(path.join(dir, "config")).map((e) => [path.basename(e.file), e.value]),
      [
        ["config", "t"],
        ["10.conf", "1"],
        ["20.conf", "2"],
      ],
    );
  });

  it("follows the fixture includes.conf", () => {
    const entries = parseConfigFile(path.join(FIXTURES, "good/includes.conf"));
    assert.deepEqual(
      entries.map((e) => `${path.relative(FIXTURES, e.file)}:${e.line}`),
      [
        "good/inc/base.conf:1",
        "good/inc/base.conf:2",
        "good/inc/parts.d/10-tty.conf:1",
        "good/inc/parts.d/10-tty.conf:2",
        "good/inc/parts.d/20-tty.conf:1",
        "good/includes.conf:4",
      ],
    );
  });

  it("detects the two-file cycle fixture", () => {
    const a = path.join(FIXTURES, "bad/inc/a.conf");
    const b = path.join(FIXTURES, "bad/inc/b.conf");
    assert.throws(() => parseConfigFile(a), configErrorAt(b, 3, "include cycle"));
  });
});
