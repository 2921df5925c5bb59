import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../core/version.js";
import { reportError } from "./output.js";
import { register as attach } from "./verbs/attach.js";
import { register as cgroup } from "./verbs/cgroup.js";
import { register as checkconfig } from "./verbs/checkconfig.js";
import { register as config } from "./verbs/config.js";
import { register as consoleVerb } from "./verbs/console.js";
import { register as copy } from "./verbs/copy.js";
import { register as create } from "./verbs/create.js";
import { register as destroy } from "./verbs/destroy.js";
import { register as execute } from "./verbs/execute.js";
import { register as exportVerb } from "./verbs/export.js";
import { register as forward } from "./verbs/forward.js";
import { register as freeze } from "./verbs/freeze.js";
import { register as image } from "./verbs/image.js";
import { register as importVerb } from "./verbs/import.js";
import { register as info } from "./verbs/info.js";
import { register as launch } from "./verbs/launch.js";
import { register as ls } from "./verbs/ls.js";
import { register as network } from "./verbs/network.js";
import { register as snapshot } from "./verbs/snapshot.js";
import { register as start } from "./verbs/start.js";
import { register as stop } from "./verbs/stop.js";
import { register as top } from "./verbs/top.js";
import { register as wait } from "./verbs/wait.js";

/** Builds the `lxt` command tree: one verb per file, each a thin layer over src/container. */
export function buildProgram(): Command {
  const program = new Command()
    .name("lxt")
    .description("Linux system containers in the LXC tradition")
    .version(`lxt ${VERSION}`, "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  for (const verb of [
    create,
    start,
    stop,
    attach,
    execute,
    ls,
    info,
    consoleVerb,
    wait,
    destroy,
    snapshot,
    copy,
    exportVerb,
    importVerb,
    image,
    launch,
    freeze,
    cgroup,
    config,
    top,
    checkconfig,
    network,
    forward,
  ]) {
    verb(program as unknown as Command);
  }
  for (const cmd of program.commands) cmd.exitOverride();
  return program as unknown as Command;
}

async function main(): Promise<void> {
  // `lxt ls | head` must not die of EPIPE.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
  });
  try {
    await buildProgram().parseAsync(process.argv);
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
