/**
 * The console's ring buffer and log file as LXC keeps them:
 * `lxc.console.buffer.size` (read with `lxt console --log`, emptied with
 * `--clear`), `lxc.console.size` with `lxc.console.rotate`, `lxt info`
 * showing the last exit and where the logs are, and `lxc.console.path`
 * (the console relayed to and from a host terminal).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Sandbox, skipReason, until } from "./harness.js";

/**
 * A host terminal for lxc.console.path: prints its slave's path, then relays
 * its stdin to the master and the master to its stdout (the far side, as a
 * person at /dev/ttyS0 would be).
 */
const TERMINAL = `
import os, select, sys
m, s = os.openpty()
print(os.ttyname(s), flush=True)
while True:
    r = select.select([m, 0], [], [])[0]
    if m in r:
        try:
            d = os.read(m, 4096)
        except OSError:
            break
        os.write(1, d)
    if 0 in r:
        d = os.read(0, 4096)
        if not d:
            break
        os.write(m, d)
`;

const skip = skipReason();
if (skip) console.log(skip);

describe("console ring buffer and log", { skip, timeout: 180_000 }, () => {
  let box: Sandbox;
  before(() => {
    box = new Sandbox();
  });
  after(() => box.cleanup());

  const make = (init: string, lines: string[]): string => {
    const c = box.name("cl");
    box.ok(["create", "-n", c, "-t", "busybox"]);
    const cfg = join(box.lxcpath, c, "config");
    writeFileSync(
      cfg,
      `${readFileSync(cfg, "utf8")}lxc.init.cmd = /bin/sh -c '${init}'\n${lines.join("\n")}\n`,
    );
    return c;
  };

  test("the ring buffer keeps the newest output; --clear empties it; stopped: the file's end", async () => {
    // 64 numbered lines of 100 bytes into a 4 KiB buffer: the last ~40 stay.
    const c = make(
      'i=0; while [ $i -lt 64 ]; do printf "line-%03d %090d\\n" $i 0; i=$((i+1)); done; exec sleep 300',
      ["lxc.console.buffer.size = 4KB"],
    );
    box.ok(["start", "-n", c]);
    let out = "";
    assert.ok(
      await until(() => {
        out = box.ok(["console", "-n", c, "--log"]);
        return out.includes("line-063");
      }, 20_000),
      `the last line in the buffer: ${out.slice(-200)}`,
    );
    assert.ok(out.length <= 4096 && out.length > 4000, `${out.length} bytes: the buffer's size`);
    assert.ok(!out.includes("line-000"), "the oldest lines were dropped");
    // The file has it all.
    const file = join(box.lxcpath, c, "console.log");
    assert.match(readFileSync(file, "utf8"), /line-000/);
    assert.match(box.ok(["console", "-n", c, "--log", "--clear"]), /line-063/);
    assert.equal(box.ok(["console", "-n", c, "--log"]), "");
    // lxt info says where the logs are.
    assert.match(box.ok(["info", "-n", c]), new RegExp(`Console log: +${file}`));
    const json = JSON.parse(box.ok(["info", "-n", c, "--format", "json"]));
    assert.equal(json.console_log, file);
    box.ok(["stop", "-k", "-n", c]);
    // Stopped: the last exit, and --log reads the end of the file.
    const info = box.ok(["info", "-n", c]);
    assert.match(info, /Last exit: +killed by signal 9/);
    assert.match(box.ok(["console", "-n", c, "--log"]), /line-063/);
  });

  test("a log file past lxc.console.size is rotated to FILE.1 (lxc.console.rotate), or cut", async () => {
    const noisy =
      'i=0; while [ $i -lt 200 ]; do printf "n-%04d %090d\\n" $i 0; i=$((i+1)); done; echo done-writing; exec sleep 300';
    const r = make(noisy, ["lxc.console.size = 4KB", "lxc.console.rotate = 1"]);
    box.ok(["start", "-n", r]);
    const file = join(box.lxcpath, r, "console.log");
    assert.ok(
      await until(
        () => existsSync(file) && readFileSync(file, "utf8").includes("done-writing"),
        20_000,
      ),
    );
    assert.ok(existsSync(`${file}.1`), "one rotated file");
    assert.ok(statSync(file).size <= 4096 + 4096, `${statSync(file).size} bytes`);
    assert.match(readFileSync(`${file}.1`, "utf8"), /n-\d{4}/);
    box.ok(["stop", "-k", "-n", r]);
    const t = make(noisy, ["lxc.console.size = 4KB"]);
    box.ok(["start", "-n", t]);
    const tf = join(box.lxcpath, t, "console.log");
    assert.ok(
      await until(
        () => existsSync(tf) && readFileSync(tf, "utf8").includes("done-writing"),
        20_000,
      ),
    );
    assert.ok(!existsSync(`${tf}.1`), "no rotation without lxc.console.rotate");
    assert.ok(statSync(tf).size <= 4096 + 4096);
    assert.doesNotMatch(readFileSync(tf, "utf8"), /n-0000/, "cut: the start is gone");
    box.ok(["stop", "-k", "-n", t]);
  });

  test("lxc.console.path: the console's output reaches the host terminal and its input the console", async () => {
    const term = spawn("python3", ["-c", TERMINAL], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      let out = "";
      term.stdout.setEncoding("utf8");
      term.stdout.on("data", (d: string) => {
        out += d;
      });
      assert.ok(await until(() => out.includes("\n"), 10_000), "the terminal's path");
      const pts = out.split("\n")[0] as string;
      assert.match(pts, /^\/dev\/pts\/\d+$/);
      const c = make('echo console-ready; while read l; do echo "got:$l"; done; exec sleep 300', [
        `lxc.console.path = ${pts}`,
      ]);
      box.ok(["start", "-n", c]);
      assert.ok(await until(() => out.includes("console-ready"), 20_000), out);
      term.stdin.write("ping-42\n");
      assert.ok(await until(() => out.includes("got:ping-42"), 20_000), out);
      // The console log still gets everything, as without a device.
      assert.match(readFileSync(join(box.lxcpath, c, "console.log"), "utf8"), /got:ping-42/);
      box.ok(["stop", "-k", "-n", c]);
    } finally {
      term.kill();
    }
  });

  test("lxc.console.path naming no device fails the start, naming it", () => {
    const c = make("exec sleep 300", ["lxc.console.path = /dev/lxt-no-such-tty"]);
    const r = box.lxt(["start", "-n", c]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /lxc\.console\.path \/dev\/lxt-no-such-tty: open: ENOENT/);
    assert.match(box.ok(["info", "-n", c]), /STOPPED/);
  });
});
