/**
 * A one-line progress display on stderr, drawn only when stderr is a
 * terminal and the user did not ask for quiet or machine output. Redrawn at
 * most ten times a second; cleared when the work ends.
 */
import type { Progress } from "../core/progress.js";

export interface ProgressLine {
  report: Progress;
  /** Clears the line (call on success and on failure). */
  end(): void;
}

/** The progress line for a verb: silent unless stderr is a TTY and neither `-q` nor `--format json`. */
export function progressLine(
  opts: { quiet?: boolean; format?: string },
  stream: NodeJS.WriteStream = process.stderr,
): ProgressLine {
  if (!stream.isTTY || opts.quiet || opts.format === "json") {
    return { report: () => {}, end: () => {} };
  }
  const t0 = Date.now();
  let last = 0;
  let drawn = false;
  return {
    report(step, fraction) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      const pct = fraction === undefined ? "" : ` ${Math.floor(Math.min(1, fraction) * 100)}%`;
      const line = `lxt: ${step}${pct} (${Math.round((now - t0) / 1000)}s)`;
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      stream.write(`\r\x1b[K${line.slice(0, width)}`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

/** Runs `fn` with a progress line, clearing it whatever happens. */
export async function withProgress<T>(
  opts: { quiet?: boolean; format?: string },
  fn: (report: Progress) => Promise<T>,
): Promise<T> {
  const p = progressLine(opts);
  try {
    return await fn(p.report);
  } finally {
    p.end();
  }
}
