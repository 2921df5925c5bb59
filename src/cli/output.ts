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

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns, as `lxc-ls -f` prints them. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join(" ")
      .trimEnd();
  process.stdout.write(`${[line(header), ...rows.map(line)].join("\n")}\n`);
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
