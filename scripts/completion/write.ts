/**
 * Writes lxt's shell completion scripts, generated from its command
 * definitions: `node --import tsx scripts/completion/write.ts OUTDIR`
 * (npm run build:docs) makes OUTDIR/lxt.bash, OUTDIR/_lxt (zsh) and
 * OUTDIR/lxt.fish.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lxtCommand } from "../man/pages.js";
import { bashScript } from "./bash.js";
import { fishScript } from "./fish.js";
import { commandSpecs } from "./spec.js";
import { zshScript } from "./zsh.js";

/** The three scripts' file names and texts. */
export function completionScripts(): Record<string, string> {
  const specs = commandSpecs(lxtCommand());
  return { "lxt.bash": bashScript(specs), _lxt: zshScript(specs), "lxt.fish": fishScript(specs) };
}

if (process.argv[1] === import.meta.filename) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write("usage: write.ts OUTDIR\n");
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  for (const [file, text] of Object.entries(completionScripts()))
    writeFileSync(join(out, file), text);
}
