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

/** A daemon over the state root `lxcpath` (its `.lxtd` made), with the fake context; `uiDir`: a built web UI. */
export function daemonAt(lxcpath: string, limits?: Partial<ClientLimits>, uiDir?: string): Daemon {
  const stateDir = join(lxcpath, ".lxtd");
  mkdirSync(stateDir, { recursive: true });
  return new Daemon({
    ctx: testContext({ lxcpath, runDir: join(lxcpath, "run") }),
    log: pino({ level: "silent" }),
    caller: testCaller(),
    stateDir,
    serverName: "unit",
    serverPid: 4242,
    limits,
    uiDir,
  });
}

export function testDaemon(limits?: Partial<ClientLimits>): TestDaemon {
  const root = mkdtempSync(join(tmpdir(), "lxt-unit-lxtd-"));
  return {
    d: daemonAt(root, limits),
    root,
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
