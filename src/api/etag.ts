/**
 * ETags as LXD uses them: a hash of the editable form of an object, sent on
 * `GET`, and checked against `If-Match` on `PUT`/`PATCH` (412 on mismatch).
 */
import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ApiError } from "./envelope.js";

/** JSON with sorted object keys, so that equal objects hash the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const rec = value as Record<string, unknown>;
    return `{${Object.keys(rec)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(rec[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

export function etagOf(value: unknown): string {
  return createHash("sha256").update(canonical(value)).digest("hex");
}

export function sendWithEtag(reply: FastifyReply, body: unknown, etag: string) {
  return reply.header("ETag", `"${etag}"`).send(body);
}

/** Refuses a change whose `If-Match` names another version than `current`. */
export function checkIfMatch(req: FastifyRequest, current: string): void {
  const want = req.headers["if-match"];
  if (!want) return;
  const tags = want.split(",").map((t) => t.trim().replace(/^W\//, "").replace(/^"|"$/g, ""));
  if (!tags.includes(current) && !tags.includes("*")) {
    throw new ApiError(412, "ETag doesn't match");
  }
}
