/**
 * Operation records on disk (`STATE_ROOT/.lxtd/operations/ID.json`), one
 * per operation, rewritten on each change of state so that no death of the
 * daemon leaves a torn one (see `write`). The daemon
 * owns no container, so these are all that a SIGKILLed daemon leaves to tell
 * its successor which operations died with it. No fsync: a record outlives
 * the process (the page cache keeps it), and after a reboot no operation of
 * the old boot means anything.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../host/atomic.js";
import type { OperationJson } from "./operations.js";

const RECORD = /^[0-9a-f-]{36}\.json$/;
const FINAL = new Set(["Success", "Failure", "Cancelled"]);
/**
 * A record up to this size is rewritten in place by one write at offset 0:
 * a write within one page is never torn by the writer's death (the kernel
 * checks for a fatal signal between pages), so no temporary file and no
 * rename (ext4 flushes a file renamed over another: milliseconds per change).
 */
const IN_PLACE_MAX = 4096;

export class OperationStore {
  /** Records of unfinished operations, kept open for their next change. */
  private readonly open = new Map<string, { fd: number; size: number }>();

  constructor(readonly dir: string) {}

  /**
   * Records the operation's state. A live one's record is made once (a
   * temporary file renamed to its name) and kept open; each change is one
   * write at offset 0, padded with spaces (JSON allows them) over a longer
   * earlier text. A final state closes it; one over `IN_PLACE_MAX` is
   * written whole, atomically, as a new file.
   */
  write(op: OperationJson): void {
    const path = join(this.dir, `${op.id}.json`);
    const text = JSON.stringify(op);
    const held = this.open.get(op.id);
    const final = FINAL.has(op.status);
    const body = Buffer.from(text);
    if (held && body.length <= IN_PLACE_MAX) {
      const pad = held.size - body.length;
      const buf = pad > 0 ? Buffer.concat([body, Buffer.alloc(pad, " ")]) : body;
      writeSync(held.fd, buf, 0, buf.length, 0);
      held.size = buf.length;
      if (final) this.close(op.id);
      return;
    }
    this.close(op.id);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (final || body.length > IN_PLACE_MAX) {
      writeFileAtomic(path, text, 0o600, false);
      return;
    }
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, body);
      renameSync(tmp, path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    this.open.set(op.id, { fd, size: body.length });
  }

  private close(id: string): void {
    const held = this.open.get(id);
    if (!held) return;
    this.open.delete(id);
    closeSync(held.fd);
  }

  remove(id: string): void {
    this.close(id);
    try {
      unlinkSync(join(this.dir, `${id}.json`));
    } catch {
      // already gone
    }
  }

  /** Every readable record; unreadable ones (and leftover temporary files) are removed. */
  readAll(): OperationJson[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: OperationJson[] = [];
    for (const n of names) {
      const path = join(this.dir, n);
      try {
        if (!RECORD.test(n)) throw new Error("not a record");
        const rec = JSON.parse(readFileSync(path, "utf8")) as OperationJson;
        if (typeof rec.id !== "string" || `${rec.id}.json` !== n) throw new Error("bad record");
        out.push(rec);
      } catch {
        try {
          unlinkSync(path);
        } catch {
          // gone meanwhile
        }
      }
    }
    return out;
  }
}
