/** An lxtd Daemon for handler tests: a fresh state root under `root`, a silent log, no root needed. */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../../src/api/daemon.js";
import { daemonAt } from "./lxtd-daemon.js";

export function testDaemon(root: string): Daemon {
  return daemonAt(mkdtempSync(join(root, "state-")));
}
