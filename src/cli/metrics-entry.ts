/**
 * `dist/lxt-metrics.cjs`: `lxt metrics` without the CLI bundle. Monitoring
 * runs a scrape every few seconds; the loader (src/cli/boot.ts) hands the
 * command here first, and this file's closure is about a tenth of the
 * bundle (whose reading, compiling and option tables cost more than the
 * scrape of a hundred containers).
 *
 * It takes only what the verb's help shows: names, `-n`/`--name NAME`,
 * `-P`/`--lxcpath PATH`. Anything else (`--help`, another flag, `--`), a
 * bad name or any error is left to the full verb
 * (src/cli/verbs/metrics.ts), which parses and reports as every verb does.
 */
import { scrapeText } from "../container/metrics.js";
import { checkName } from "../core/names.js";
import { cliContext } from "./context.js";
import { writeOut } from "./output.js";

/** The names and the state root flag of `metrics ...args`, or undefined for the full verb. */
export function parseMetricsArgs(
  args: readonly string[],
): { names: string[]; lxcpath?: string } | undefined {
  const names: string[] = [];
  let lxcpath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const value = (short: string, long: string): string | undefined | null => {
      if (a === short || a === long) return i + 1 < args.length ? (args[++i] as string) : null;
      if (a.startsWith(`${long}=`)) return a.slice(long.length + 1);
      if (a.startsWith(short) && a.length > 2) return a.slice(2);
      return undefined;
    };
    const name = value("-n", "--name");
    if (name === null) return undefined;
    if (name !== undefined) {
      names.push(name);
      continue;
    }
    const path = value("-P", "--lxcpath");
    if (path === null) return undefined;
    if (path !== undefined) lxcpath = path;
    else if (a.startsWith("-")) return undefined;
    else names.push(a);
  }
  return { names, lxcpath };
}

/**
 * Answers `lxt metrics ...args` and resolves true, or resolves false having
 * written nothing: then the full verb must answer.
 */
export async function metricsAlone(args: readonly string[]): Promise<boolean> {
  const parsed = parseMetricsArgs(args);
  if (!parsed) return false;
  let text: string;
  try {
    const names = parsed.names.map((n) => checkName(n));
    text = await scrapeText(cliContext({ lxcpath: parsed.lxcpath }), names);
  } catch {
    return false;
  }
  writeOut(text);
  return true;
}
