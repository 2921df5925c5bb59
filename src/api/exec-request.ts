/**
 * `POST /1.0/instances/NAME/exec`'s body (LXD's `InstanceExecPost`) and
 * the console's, checked, and the environment LXD gives the command. Pure: the route
 * (routes/exec.ts) runs what this resolved.
 */
import { DEFAULT_PATH } from "../container/attach.js";
import { badRequest } from "./envelope.js";
import { instanceConsolePost, instanceExecPost, parseBody } from "./schemas.js";

export interface ExecRequest {
  command: string[];
  environment: Record<string, string>;
  interactive: boolean;
  waitForWebsocket: boolean;
  recordOutput: boolean;
  width: number;
  height: number;
  user: number;
  group: number;
  cwd: string;
}

const MAX_ID = 0xfffffffe;

function within(key: string, v: number | undefined, max: number): number {
  if (v === undefined) return 0;
  if (v < 0 || v > max)
    throw badRequest(`Invalid value for field "${key}": expected a number from 0 to ${max}`);
  return v;
}

/** No NUL: the command and its environment cross to the helper as C strings. */
function cString(what: string, s: string): string {
  if (s.includes("\0")) throw badRequest(`Invalid exec request: ${what} contains a NUL byte`);
  return s;
}

/** Checks an exec body as LXD reads it (schemas.ts's rules: unknown fields refused, `null` absent). */
export function parseExecBody(raw: unknown): ExecRequest {
  const body = parseBody(instanceExecPost, raw);
  const command = body.command ?? [];
  if (command.length === 0 || command[0] === "")
    throw badRequest("Invalid exec request: no command given");
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(body.environment ?? {})) {
    if (k === "" || k.includes("="))
      throw badRequest(`Invalid exec request: bad environment variable name "${k}"`);
    environment[cString(`environment variable "${k}"`, k)] = cString(
      `environment variable "${k}"`,
      v,
    );
  }
  return {
    command: command.map((c, i) => cString(`command argument ${i}`, c)),
    environment,
    interactive: !!body.interactive,
    waitForWebsocket: !!body["wait-for-websocket"],
    recordOutput: !!body["record-output"],
    width: within("width", body.width, 65535),
    height: within("height", body.height, 65535),
    user: within("user", body.user, MAX_ID),
    group: within("group", body.group, MAX_ID),
    cwd: cString("cwd", body.cwd ?? ""),
  };
}

/** A console request: its type (`console`, LXD's default) and the size asked for (0: leave it). */
export function parseConsoleBody(raw: unknown): { type: string; cols: number; rows: number } {
  const body = parseBody(instanceConsolePost, raw ?? {});
  return {
    type: body.type || "console",
    cols: within("width", body.width, 65535),
    rows: within("height", body.height, 65535),
  };
}

/**
 * The command's environment as LXD builds it: the request's, then the
 * instance's own (`instance`: its `lxc.environment`, LXD's `environment.*`),
 * then `PATH` (the usual one), for root `HOME=/root` and `USER=root`, and
 * `LANG=C.UTF-8`, each only where nothing before set it.
 */
export function execEnvironment(
  req: ExecRequest,
  instance: Record<string, string> = {},
): Record<string, string> {
  const env = { ...instance, ...req.environment };
  env.PATH ??= DEFAULT_PATH;
  if (req.user === 0) {
    env.HOME ??= "/root";
    env.USER ??= "root";
  }
  env.LANG ??= "C.UTF-8";
  return env;
}

/** LXD's words for an attach that never ran its command (the helper's 127 and 126). */
export function execFailure(code: number): string | undefined {
  if (code === 127) return "Command not found";
  if (code === 126) return "Command not executable";
  return undefined;
}
