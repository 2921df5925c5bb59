/**
 * `POST /1.0/instances/NAME/exec`'s body (LXD's `InstanceExecPost`),
 * checked, and the environment LXD gives the command. Pure: the route
 * (routes/exec.ts) runs what this resolved.
 */
import { DEFAULT_PATH } from "../container/attach.js";
import { badRequest } from "./envelope.js";

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

const FIELDS = new Set([
  "command",
  "environment",
  "interactive",
  "wait-for-websocket",
  "record-output",
  "width",
  "height",
  "user",
  "group",
  "cwd",
]);

const MAX_ID = 0xfffffffe;

function field(body: Record<string, unknown>, key: string, type: string): unknown {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw badRequest(`Invalid exec request: "${key}" must be a ${type}`);
  return v;
}

function whole(body: Record<string, unknown>, key: string, max: number): number {
  const v = field(body, key, "number") as number | undefined;
  if (v === undefined) return 0;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw badRequest(`Invalid exec request: "${key}" must be a whole number from 0 to ${max}`);
  return v;
}

/** No NUL: the command and its environment cross to the helper as C strings. */
function cString(what: string, s: string): string {
  if (s.includes("\0")) throw badRequest(`Invalid exec request: ${what} contains a NUL byte`);
  return s;
}

/** Checks an exec body as LXD reads it; unknown fields are refused, not dropped. */
export function parseExecBody(raw: unknown): ExecRequest {
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    throw badRequest("Invalid exec request: the body must be a JSON object");
  const body = raw as Record<string, unknown>;
  for (const k of Object.keys(body))
    if (!FIELDS.has(k)) throw badRequest(`Invalid exec request: unknown field "${k}"`);
  const command = body.command;
  if (!Array.isArray(command) || command.some((c) => typeof c !== "string"))
    throw badRequest('Invalid exec request: "command" must be a list of strings');
  if (command.length === 0 || command[0] === "")
    throw badRequest("Invalid exec request: no command given");
  const environment: Record<string, string> = {};
  const env = body.environment;
  if (env !== undefined && env !== null) {
    if (typeof env !== "object" || Array.isArray(env))
      throw badRequest('Invalid exec request: "environment" must be an object of strings');
    for (const [k, v] of Object.entries(env)) {
      if (typeof v !== "string")
        throw badRequest(`Invalid exec request: environment variable "${k}" must be a string`);
      if (k === "" || k.includes("="))
        throw badRequest(`Invalid exec request: bad environment variable name "${k}"`);
      environment[cString(`environment variable "${k}"`, k)] = cString(
        `environment variable "${k}"`,
        v,
      );
    }
  }
  return {
    command: command.map((c: string, i) => cString(`command argument ${i}`, c)),
    environment,
    interactive: !!field(body, "interactive", "boolean"),
    waitForWebsocket: !!field(body, "wait-for-websocket", "boolean"),
    recordOutput: !!field(body, "record-output", "boolean"),
    width: whole(body, "width", 65535),
    height: whole(body, "height", 65535),
    user: whole(body, "user", MAX_ID),
    group: whole(body, "group", MAX_ID),
    cwd: cString("cwd", (field(body, "cwd", "string") as string | undefined) ?? ""),
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
