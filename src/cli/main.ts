import { reportError } from "./output.js";
import { installPhases, phase } from "./phases.js";
import { buildProgram } from "./program.js";

/**
 * `lxt --help | head` must not die of EPIPE either (commander, `top` and
 * `console` write through `process.stdout`). Node makes that stream on first
 * use, which loads the stream classes (~2 ms), and most commands never use
 * it (src/cli/output.ts writes with write(2)): the handler is added when the
 * stream is made, not before.
 */
function quietEpipe(): void {
  const made = Object.getOwnPropertyDescriptor(process, "stdout");
  if (!made?.get || !made.configurable) {
    process.stdout.on("error", onEpipe);
    return;
  }
  const get = made.get;
  let hooked = false;
  Object.defineProperty(process, "stdout", {
    configurable: true,
    enumerable: made.enumerable,
    get() {
      const stream = get.call(process) as NodeJS.WriteStream;
      if (!hooked) {
        hooked = true;
        stream.on("error", onEpipe);
      }
      return stream;
    },
  });
}

function onEpipe(e: NodeJS.ErrnoException): void {
  if (e.code === "EPIPE") process.exit(0);
}

async function main(): Promise<void> {
  if (installPhases(process.env)) phase("bundle loaded");
  quietEpipe();
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
