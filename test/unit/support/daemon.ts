/** An lxtd Daemon for handler tests: a fresh state root under `root`, a silent log, no root needed. */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { Daemon } from "../../../src/api/daemon.js";
import { testContext } from "./context.js";

export function testDaemon(root: string): Daemon {
  const lxcpath = mkdtempSync(join(root, "state-"));
  return new Daemon({
    ctx: testContext({ lxcpath }),
    log: pino({ level: "silent" }),
    caller: { env: {}, cgroupPid: 4242 },
    stateDir: join(lxcpath, ".lxtd"),
    serverName: "unit",
    serverPid: 1,
  });
}
