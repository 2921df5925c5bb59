/**
 * `multipart/form-data` as LXD's split images travel: a request body read
 * part by part into files (an upload of gigabytes is never held in memory),
 * and a body written from files (an export). Only what RFC 7578 form data
 * of files needs: a boundary, each part's `Content-Disposition` name and
 * file name, raw bytes.
 */
import { once } from "node:events";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { badRequest } from "./envelope.js";

/** One part read into a file. */
export interface FilePart {
  /** The form field's name (`metadata`, `rootfs`). */
  name: string;
  /** The uploader's file name (may be empty). */
  filename: string;
  path: string;
  size: number;
}

/** The boundary of a `multipart/form-data` content type, or undefined for any other type. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  if (!b || b.length > 70) throw badRequest("Invalid multipart boundary");
  return b;
}

const MAX_HEADERS = 16 * 1024;

function parseDisposition(head: string): { name: string; filename: string } {
  const line = head.split("\r\n").find((l) => /^content-disposition:/i.test(l)) ?? "";
  const param = (k: string) =>
    new RegExp(`;\\s*${k}="([^"]*)"`, "i").exec(line)?.[1] ??
    new RegExp(`;\\s*${k}=([^;\\s]+)`, "i").exec(line)?.[1] ??
    "";
  const name = param("name");
  if (!/^form-data/i.test(line.replace(/^content-disposition:\s*/i, "")) || !name) {
    throw badRequest("Invalid multipart image: a part has no form-data name");
  }
  return { name, filename: param("filename") };
}

/**
 * Reads a multipart body into files `dir/part-N`, at most `maxParts` parts.
 * Waits on each file's drain, so a fast client is held back by the disk.
 */
export async function readMultipart(
  body: Readable,
  boundary: string,
  dir: string,
  maxParts = 2,
): Promise<FilePart[]> {
  // The body's first delimiter has no CRLF before it; one is put there so all look alike.
  const delim = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.from("\r\n");
  let state = "preamble" as "preamble" | "headers" | "body" | "done";
  const parts: FilePart[] = [];
  let out: WriteStream | undefined;
  let cur: FilePart | undefined;

  const write = async (b: Buffer) => {
    if (!out || !cur || b.length === 0) return;
    cur.size += b.length;
    if (!out.write(b)) await once(out, "drain");
  };
  const close = async () => {
    if (!out) return;
    out.end();
    await once(out, "close");
    out = undefined;
  };
  try {
    const step = async (): Promise<boolean> => {
      if (state === "preamble" || state === "body") {
        const i = buf.indexOf(delim);
        if (i < 0) {
          const keep = Math.max(0, buf.length - delim.length + 1);
          if (state === "body") await write(buf.subarray(0, keep));
          buf = buf.subarray(keep);
          return false;
        }
        if (buf.length < i + delim.length + 2) return false;
        if (state === "body") {
          await write(buf.subarray(0, i));
          await close();
        }
        const after = buf.subarray(i + delim.length, i + delim.length + 2).toString("latin1");
        buf = buf.subarray(i + delim.length + 2);
        if (after === "--") state = "done";
        else if (after === "\r\n") state = "headers";
        else throw badRequest("Invalid multipart body");
        return true;
      }
      if (state === "headers") {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) {
          if (buf.length > MAX_HEADERS)
            throw badRequest("Invalid multipart body: headers too long");
          return false;
        }
        const { name, filename } = parseDisposition(buf.subarray(0, end).toString("utf8"));
        buf = buf.subarray(end + 4);
        if (parts.length >= maxParts) throw badRequest("Invalid multipart image: too many parts");
        cur = { name, filename, path: join(dir, `part-${parts.length}`), size: 0 };
        parts.push(cur);
        out = createWriteStream(cur.path, { mode: 0o600 });
        state = "body";
        return true;
      }
      return false;
    };
    for await (const chunk of body) {
      buf = buf.length ? Buffer.concat([buf, chunk as Buffer]) : (chunk as Buffer);
      while (state !== "done" && (await step())) {}
    }
    while (state !== "done" && (await step())) {}
    if (state !== "done") throw badRequest("Invalid multipart body: truncated");
  } finally {
    await close();
  }
  return parts;
}

/** A multipart body of `files` (in order, each as a form field), and its content type. */
export function writeMultipart(
  files: readonly { field: string; name: string; path: string }[],
  boundary: string,
): { stream: Readable; contentType: string } {
  const stream = new PassThrough();
  void (async () => {
    try {
      for (const f of files) {
        const name = f.name.replace(/["\r\n]/g, "_");
        stream.write(
          `--${boundary}\r\nContent-Disposition: form-data; name="${f.field}"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        );
        for await (const chunk of createReadStream(f.path)) {
          if (!stream.write(chunk)) await once(stream, "drain");
        }
        stream.write("\r\n");
      }
      stream.end(`--${boundary}--\r\n`);
    } catch (err) {
      stream.destroy(err as Error);
    }
  })();
  return { stream, contentType: `multipart/form-data; boundary=${boundary}` };
}
