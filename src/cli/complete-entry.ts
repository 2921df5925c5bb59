/**
 * `dist/lxt-complete.cjs`: `lxt __complete` for the kinds read from
 * directory listings (src/container/complete-names.ts), without the CLI
 * bundle. Shell completion runs `lxt __complete` on every Tab; the loader
 * (src/cli/boot.ts) hands it here first, and this file's closure is a few
 * kB where the bundle is most of a megabyte (reading, compiling and running
 * that costs more than Node's own start-up: bench/complete.sh).
 *
 * It takes only what the completion scripts pass: `KIND [CONTAINER]` and
 * `-P`/`--lxcpath`. Anything else (another kind, another flag, `--help`,
 * too many words) or any error is left to the full verb
 * (src/cli/verbs/complete.ts), which parses and reports as every verb does.
 */
import { resolve } from "node:path";
import { nameWords } from "../container/complete-names.js";
import { DEFAULT_LXCPATH, DEFAULT_RUNDIR } from "../container/paths.js";
import { writeOut } from "./output.js";

/** The state root and runtime directory `__complete` reads, as every verb resolves them. */
export function completionWhere(
  lxcpathFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): { lxcpath: string; runDir: string } {
  return {
    lxcpath: resolve(lxcpathFlag || env.LXT_PATH || DEFAULT_LXCPATH),
    runDir: env.LXT_RUNDIR || DEFAULT_RUNDIR,
  };
}

/** `KIND [CONTAINER]` and the state root flag from `args` (after `__complete`), or undefined. */
function parseArgs(args: string[]): { words: string[]; lxcpath?: string } | undefined {
  const words: string[] = [];
  let lxcpath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-P" || a === "--lxcpath") {
      if (i + 1 >= args.length) return undefined;
      lxcpath = args[++i];
    } else if (a.startsWith("--lxcpath=")) lxcpath = a.slice("--lxcpath=".length);
    else if (a.startsWith("-P")) lxcpath = a.slice(2);
    else if (a.startsWith("-")) return undefined;
    else words.push(a);
  }
  return words.length === 1 || words.length === 2 ? { words, lxcpath } : undefined;
}

/**
 * Answers `lxt __complete ...args` and returns true, or returns false having
 * written nothing: then the full verb must answer.
 */
export function completeNames(args: string[], env: NodeJS.ProcessEnv): boolean {
  const parsed = parseArgs(args);
  if (!parsed) return false;
  const [kind = "", container] = parsed.words;
  let words: string[] | undefined;
  try {
    words = nameWords(completionWhere(parsed.lxcpath, env), kind, container);
  } catch {
    return false;
  }
  if (!words) return false;
  if (words.length > 0) writeOut(`${words.join("\n")}\n`);
  return true;
}
