/**
 * The JSON bodies lxtd takes, as zod schemas: every field the stock client
 * (LXD 5.0.2's `lxc`) sends is known, with its type; a body with a field
 * that is not, a field of the wrong type, or no JSON object at all is
 * refused with 400 naming the field. JSON `null` is the field's absence, as
 * Go's decoder (LXD's) reads it.
 */
import { z } from "zod";
import { badRequest } from "./envelope.js";

const str = z.string();
const bool = z.boolean();
const stringMap = z.record(z.string(), z.string());

/** `source` of `POST /1.0/instances` (LXD's api.InstanceSource). */
const instanceSource = z.strictObject({
  type: str.optional(),
  certificate: str.optional(),
  alias: str.optional(),
  fingerprint: str.optional(),
  properties: stringMap.optional(),
  server: str.optional(),
  secret: str.optional(),
  protocol: str.optional(),
  "base-image": str.optional(),
  mode: str.optional(),
  operation: str.optional(),
  secrets: stringMap.optional(),
  source: str.optional(),
  live: bool.optional(),
  instance_only: bool.optional(),
  container_only: bool.optional(),
  refresh: bool.optional(),
  project: str.optional(),
  allow_inconsistent: bool.optional(),
});

/** `POST /1.0/instances` (api.InstancesPost with its InstancePut; `start` as later LXDs send it). */
export const instancesPost = z.strictObject({
  name: str.optional(),
  description: str.optional(),
  type: str.optional(),
  source: instanceSource.optional(),
  config: stringMap.optional(),
  devices: z.record(z.string(), stringMap).optional(),
  profiles: z.array(str).optional(),
  ephemeral: bool.optional(),
  stateful: bool.optional(),
  restore: str.optional(),
  architecture: str.optional(),
  instance_type: str.optional(),
  start: bool.optional(),
});
export type InstancesPost = z.infer<typeof instancesPost>;

/** `PUT /1.0/instances/NAME/state` (api.InstanceStatePut). */
export const instanceStatePut = z.strictObject({
  action: str.optional(),
  timeout: z.number().int().optional(),
  force: bool.optional(),
  stateful: bool.optional(),
});
export type InstanceStatePut = z.infer<typeof instanceStatePut>;

/** `POST /1.0/instances/NAME/exec` (LXD's api.InstanceExecPost). */
export const instanceExecPost = z.strictObject({
  command: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  interactive: z.boolean().optional(),
  "wait-for-websocket": z.boolean().optional(),
  "record-output": z.boolean().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  user: z.number().int().optional(),
  group: z.number().int().optional(),
  cwd: z.string().optional(),
});
export type InstanceExecPost = z.infer<typeof instanceExecPost>;

/** `POST /1.0/instances/NAME/console` (LXD's api.InstanceConsolePost). */
export const instanceConsolePost = z.strictObject({
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  type: z.string().optional(),
});
export type InstanceConsolePost = z.infer<typeof instanceConsolePost>;

/** The body without its `null` fields, nested objects included (Go reads `null` as absent). */
function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v;
  if (v === null || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x);
  return out;
}

function where(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  let v = body;
  for (const k of path) v = (v as Record<PropertyKey, unknown> | undefined)?.[k];
  return v;
}

/**
 * The request body as `schema` reads it.
 *
 * @throws ApiError(400) naming the unknown fields, or the first field of a
 * wrong type, or saying the body is no JSON object.
 */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  // A body that is no plain object: a stream (another content type), an array, a scalar.
  if (
    body === undefined ||
    body === null ||
    typeof body !== "object" ||
    Array.isArray(body) ||
    Object.getPrototypeOf(body) !== Object.prototype
  ) {
    throw badRequest(
      "Invalid request body: expected a JSON object (Content-Type: application/json)",
    );
  }
  const cleaned = dropNulls(body);
  const r = schema.safeParse(cleaned);
  if (r.success) return r.data;
  const unknown = r.error.issues.flatMap((i) =>
    i.code === "unrecognized_keys" ? i.keys.map((k) => where([...i.path, k])) : [],
  );
  if (unknown.length > 0) {
    throw badRequest(
      `Unknown field(s) in request body: ${unknown.map((k) => `"${k}"`).join(", ")}`,
    );
  }
  const first = r.error.issues[0];
  const path = first ? where(first.path) : "";
  const expected = first && "expected" in first ? String(first.expected) : (first?.message ?? "");
  throw badRequest(
    `Invalid value for field "${path}": expected ${expected}, got ${typeName(valueAt(cleaned, first?.path ?? []))}`,
  );
}
