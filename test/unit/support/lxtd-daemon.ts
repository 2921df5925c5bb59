/**
 * An lxtd `Daemon` for handler tests (`buildApp(d).inject(...)`): a temp
 * state root, the unit tests' fake context, a silent logger.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { type ClientLimits, Daemon } from "../../../src/api/daemon.js";
import { testCaller, testContext } from "./context.js";

export interface TestDaemon {
  d: Daemon;
  root: string;
  /** Removes the temp state root. */
  cleanup(): void;
}

export function testDaemon(limits?: Partial<ClientLimits>): TestDaemon {
  const root = mkdtempSync(join(tmpdir(), "lxt-unit-lxtd-"));
  const stateDir = join(root, ".lxtd");
  mkdirSync(stateDir, { recursive: true });
  const d = new Daemon({
    ctx: testContext({ lxcpath: root, runDir: join(root, "run") }),
    log: pino({ level: "silent" }),
    caller: testCaller(),
    stateDir,
    serverName: "unit",
    serverPid: 4242,
    limits,
  });
  return { d, root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
