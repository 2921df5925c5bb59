/** Query parameters every LXD collection takes. */
import type { FastifyRequest } from "fastify";
import { badRequest } from "../envelope.js";

/** `?recursion=0|1|2` (absent: 0). */
export function recursion(req: FastifyRequest): number {
  const raw = (req.query as Record<string, string | undefined>).recursion ?? "0";
  if (!/^[0-9]$/.test(raw)) throw badRequest(`Invalid recursion value "${raw}"`);
  return Math.min(Number(raw), 2);
}
