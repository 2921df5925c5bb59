import { reportError } from "./output.js";
import { installPhases, phase } from "./phases.js";
import { buildProgram } from "./program.js";

async function main(): Promise<void> {
  if (installPhases(process.env)) phase("bundle loaded");
  // `lxt ls | head` must not die of EPIPE.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  try {
    const program = buildProgram(process.argv);
    phase("verb registered");
    program.hook("preAction", (_program, action) => {
      phase("action");
      // For the loader's code cache (src/cli/boot.ts): the verb whose path this run compiles.
      let verb = action;
      while (verb.parent?.parent) verb = verb.parent;
      (globalThis as { __lxtVerbRan?: string }).__lxtVerbRan = verb.name();
    });
    await program.parseAsync(process.argv);
    phase("verb done");
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (
      e.code === "commander.helpDisplayed" ||
      e.code === "commander.version" ||
      e.code === "commander.help"
    ) {
      process.exitCode = 0;
      return;
    }
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    process.exitCode = reportError(err);
  }
}

void main();
