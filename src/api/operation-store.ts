/**
 * Operation records on disk (`STATE_ROOT/.lxtd/operations/ID.json`), one
 * per operation, rewritten atomically on each change of state. The daemon
 * owns no container, so these are all that a SIGKILLed daemon leaves to tell
 * its successor which operations died with it. No fsync: a record outlives
 * the process (the page cache keeps it), and after a reboot no operation of
 * the old boot means anything.
 */
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../host/atomic.js";
import type { OperationJson } from "./operations.js";

const RECORD = /^[0-9a-f-]{36}\.json$/;

export class OperationStore {
  constructor(readonly dir: string) {}

  write(op: OperationJson): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.dir, `${op.id}.json`), JSON.stringify(op), 0o600, false);
  }

  remove(id: string): void {
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
