/**
 * `commandRunner(env).pipe`: the stream of a command's stdout that ends only
 * when the command exited 0 (what `btrfs send` into an upload and an upload
 * into `btrfs receive` rely on), with real processes.
 */
import assert from "node:assert/strict";
import { PassThrough, Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { describe, it } from "node:test";
import { commandRunner } from "../../src/host/runner.js";

const run = commandRunner({ PATH: process.env.PATH ?? "/usr/bin:/bin" });
const pipe = (args: string[], input?: Readable) => {
  if (!run.pipe) throw new Error("commandRunner has no pipe");
  return run.pipe("sh", ["-c", ...args], input);
};

async function collect(r: Readable): Promise<string> {
  const out: Buffer[] = [];
  for await (const b of r) out.push(b as Buffer);
  return Buffer.concat(out).toString("utf8");
}

describe("commandRunner pipe", () => {
  it("streams stdout, and the input through the command", async () => {
    assert.equal(await collect(pipe(["echo one; echo two"])), "one\ntwo\n");
    const input = Readable.from([Buffer.from("a"), Buffer.from("b")]);
    assert.equal(await collect(pipe(["tr a-z A-Z"], input)), "AB");
  });

  it("errors, not ends, when the command fails after writing, with its stderr", async () => {
    await assert.rejects(
      collect(pipe(["echo part; echo 'went wrong' >&2; exit 3"])),
      /sh -c .*: went wrong/,
    );
  });

  it("a command that stops reading its input fails by its status, not by EPIPE", async () => {
    const input = new PassThrough();
    const out = pipe(["echo 'stopped early' >&2; exit 1"], input);
    input.write(Buffer.alloc(1 << 20));
    await assert.rejects(finished(out.resume()), /stopped early/);
  });

  it("an input cut before its end kills the command and fails it", async () => {
    const input = new PassThrough();
    const out = pipe(["cat >/dev/null; exit 0"], input);
    input.write("some of it");
    input.destroy(new Error("connection reset"));
    await assert.rejects(finished(out.resume()), /its input was cut: connection reset/);
  });

  it("destroying the stream stops the command", { timeout: 30_000 }, async () => {
    const out = pipe(["echo $$; exec sleep 60"]);
    const pid = Number(
      await new Promise<string>((resolve) => out.once("data", (b: Buffer) => resolve(String(b)))),
    );
    out.destroy();
    // The shell exec'd sleep: the same pid, gone once killed.
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(pid > 0);
  });

  it("a missing command is not installed", async () => {
    const r = commandRunner({ PATH: "/nonexistent" });
    await assert.rejects(
      collect(r.pipe?.("no-such-cmd", []) ?? Readable.from([])),
      /not installed/,
    );
  });
});
