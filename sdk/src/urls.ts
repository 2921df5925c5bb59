/** Small helpers the resource classes share. */
import type { Readable } from "node:stream";
import { readAll } from "./transport.js";

/** A stream's bytes as text. */
export async function text(r: Readable): Promise<string> {
  return (await readAll(r)).toString();
}

/** The last segment of each URL (`/1.0/instances/c1` → `c1`). */
export const names = (urls: string[]) =>
  urls.map((u) => decodeURIComponent(u.slice(u.lastIndexOf("/") + 1)));
