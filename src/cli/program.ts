import { Command } from "@commander-js/extra-typings";
import { VERSION_LINE } from "../core/version.js";
import { register as attach } from "./verbs/attach.js";
import { register as autostart } from "./verbs/autostart.js";
import { register as cgroup } from "./verbs/cgroup.js";
import { register as checkconfig } from "./verbs/checkconfig.js";
import { register as checkpoint } from "./verbs/checkpoint.js";
import { register as clusterVerb } from "./verbs/cluster.js";
import { register as complete } from "./verbs/complete.js";
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
import { register as metrics } from "./verbs/metrics.js";
import { register as move } from "./verbs/move.js";
import { register as network } from "./verbs/network.js";
import { register as remote } from "./verbs/remote.js";
import { register as setupHost } from "./verbs/setup-host.js";
import { register as snapshot } from "./verbs/snapshot.js";
import { register as start } from "./verbs/start.js";
import { register as stop } from "./verbs/stop.js";
import { register as top } from "./verbs/top.js";
import { register as trust } from "./verbs/trust.js";
import { register as ui } from "./verbs/ui.js";
import { register as wait } from "./verbs/wait.js";

type Register = (program: Command) => void;

/** Every verb, with the names (and aliases) its `register` gives it. */
export const VERBS: ReadonlyArray<readonly [readonly string[], Register]> = [
  [["create"], create],
  [["start"], start],
  [["stop"], stop],
  [["attach"], attach],
  [["execute"], execute],
  [["ls", "list"], ls],
  [["info"], info],
  [["console"], consoleVerb],
  [["wait"], wait],
  [["destroy"], destroy],
  [["snapshot"], snapshot],
  [["copy"], copy],
  [["move"], move],
  [["export"], exportVerb],
  [["import"], importVerb],
  [["image"], image],
  [["launch"], launch],
  [["freeze", "unfreeze"], freeze],
  [["cgroup"], cgroup],
  [["config"], config],
  [["top"], top],
  [["metrics"], metrics],
  [["checkconfig"], checkconfig],
  [["checkpoint", "restore"], checkpoint],
  [["network"], network],
  [["forward"], forward],
  [["trust"], trust],
  [["cluster"], clusterVerb],
  [["remote"], remote],
  [["autostart"], autostart],
  [["ui"], ui],
  [["setup-host"], setupHost],
  [["__complete"], complete],
];

/**
 * Builds the `lxt` command tree: one verb per file, each a thin layer over
 * src/container. Given the command line, and its first word names a verb,
 * only that verb is registered (the others' option tables are not built on
 * every command); anything else (`--help`, `help`, a typo) gets the whole tree.
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command()
    .name("lxt")
    .description("Linux system containers in the LXC tradition")
    .version(`lxt ${VERSION_LINE}`, "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(add --help for usage)")
    .exitOverride();
  const word = argv?.[2];
  const only = VERBS.find(([names]) => word !== undefined && names.includes(word));
  for (const [, verb] of only ? [only] : VERBS) verb(program as unknown as Command);
  for (const cmd of program.commands) cmd.exitOverride();
  return program as unknown as Command;
}
