import { fstatSync, writeSync } from "node:fs";
import { isatty } from "node:tty";
import type { NicInfo } from "../container/list.js";
import { LxtError } from "../core/errors.js";
import { CLI_ERRORS } from "./errors.js";

/** The one place where errors become text and exit codes. */
export function reportError(err: unknown): number {
  if (err instanceof LxtError) {
    process.stderr.write(`lxt: ${err.message}\n`);
    const { exit, hint } = CLI_ERRORS[err.code];
    if (hint && err.code !== "internal") process.stderr.write(`hint: ${hint}\n`);
    if (err.code === "internal" || process.env.LXT_DEBUG) process.stderr.write(`${err.stack}\n`);
    return exit;
  }
  const e = err as { code?: string; message?: string; stack?: string };
  if (e && typeof e.code === "string" && e.code.startsWith("commander.")) return 2;
  process.stderr.write(`lxt: internal error: ${e?.message ?? String(err)}\n`);
  if (e?.stack) process.stderr.write(`${e.stack}\n`);
  return CLI_ERRORS.internal.exit;
}

/** Set once stdout refused a synchronous write (a non-blocking pipe that was full). */
let viaStream = false;

/**
 * Writes to stdout with write(2), not through `process.stdout`: making that
 * stream loads Node's stream classes (~2 ms on a command such as `info`).
 * `lxt ls | head` must not die of EPIPE: it ends the command, status 0. A
 * non-blocking stdout that is full (EAGAIN) hands this and every later write
 * to `process.stdout`, which waits for it, in order.
 */
export function writeOut(text: string): void {
  writeOutBytes(Buffer.from(text));
}

/** `writeOut` for bytes as they are (a console's output need not be UTF-8). */
export function writeOutBytes(buf: Buffer): void {
  if (viaStream) {
    process.stdout.write(buf);
    return;
  }
  let done = 0;
  while (done < buf.length) {
    try {
      done += writeSync(1, buf, done, buf.length - done);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EPIPE") process.exit(0);
      if (code !== "EAGAIN") throw err;
      viaStream = true;
      process.stdout.write(buf.subarray(done));
      return;
    }
  }
}

/**
 * Whether stdout is a terminal, without making `process.stdout` (see
 * writeOut): a pipe, file or socket is not, nor are the memory devices
 * (major 1: /dev/null, /dev/zero...); another character device is asked
 * with isatty(3) (node:tty, which the bundle loads only then: src/cli/lazy).
 */
export function stdoutIsTTY(): boolean {
  let rdev: number;
  try {
    const st = fstatSync(1);
    if (!st.isCharacterDevice()) return false;
    rdev = st.rdev;
  } catch {
    return false;
  }
  return Math.floor(rdev / 256) % 4096 !== 1 && isatty(1);
}

export function printJson(value: unknown): void {
  writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns, as `lxc-ls -f` prints them. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join(" ")
      .trimEnd();
  writeOut(`${[line(header), ...rows.map(line)].join("\n")}\n`);
}

export function humanBytes(n: number | undefined): string {
  if (n === undefined) return "-";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} bytes` : `${v.toFixed(2)} ${units[u]}`;
}

/** A NIC as `info` and `ls --format json` show it (snake_case keys, as LXD's). */
export function nicJson(n: NicInfo) {
  return {
    index: n.index,
    name: n.name,
    type: n.type,
    link: n.link,
    hwaddr: n.hwaddr,
    host_name: n.hostName,
    mode: n.mode,
    ipv4: n.ipv4,
    ipv6: n.ipv6,
  };
}
