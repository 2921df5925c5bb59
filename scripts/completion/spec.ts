/**
 * What shell completion offers at each place of an `lxt` command line,
 * derived from the commander tree that parses it (src/cli/program.ts): the
 * verbs, their subcommands and flags come from there, so a new verb or flag
 * completes without a change here. What a value *is* (a container, a
 * network, a file) is read from the names of the options and arguments by
 * the rules below, and which containers a verb wants from the state table
 * its verb is refused by (`VERB_STATES`).
 */
import type { Argument, Command, Option } from "commander";
import { VERB_STATES } from "../../src/container/state.js";
import { storageBackends } from "../../src/storage/index.js";
import { visibleCommands } from "../man/roff.js";

/**
 * What a value completes to: a kind `lxt __complete` answers (containers,
 * running, stopped, snapshots, images, networks, keys), `dir`, `file`, or
 * `=word` literals; several joined by `,`. Empty: nothing to offer.
 */
export type ValueKinds = string;

/** One command (`""` for lxt itself, `start`, `network create`). */
export interface CommandSpec {
  path: string;
  subcommands: string[];
  /** Every flag, short and long. */
  flags: string[];
  /** The flags that take a value, and what their value is. */
  values: Record<string, ValueKinds>;
  /** What each positional argument is, in order; the last repeats when `variadic`. */
  positionals: ValueKinds[];
  variadic: boolean;
}

/** The containers a verb works on, by the states its verb accepts. */
function containerKind(verb: string): string {
  const states = VERB_STATES[verb];
  if (!states) return "containers";
  if (states.length === 1 && states[0] === "STOPPED") return "stopped";
  return states.includes("STOPPED") ? "containers" : "running";
}

/** Verbs whose `name` argument names a container that does not exist yet. */
const NEW_NAME_VERBS = new Set(["create", "launch", "import"]);

const literal = (words: readonly string[]) => words.map((w) => `=${w}`).join(",");

function argumentKind(path: string[], arg: Argument): ValueKinds {
  const verb = path[0] ?? "";
  const name = arg.name();
  if (arg.argChoices) return literal(arg.argChoices);
  if (verb === "network") return name === "name" ? (path[1] === "create" ? "" : "networks") : "";
  if (verb === "image" || verb === "launch") {
    if (name === "image" || name === "images") return "images";
  }
  if (verb === "config" && name === "key") return "keys";
  if (name === "file" || name === "files") return "file";
  // `attach NAME -- CMD`, `cgroup NAME FILE`: the container comes first, as LXC also takes it.
  if (/^(name|names|command|file-or-name)$/.test(name)) {
    return NEW_NAME_VERBS.has(verb) || verb === "trust" ? "" : containerKind(verb);
  }
  if (name === "name-or-file") return `${containerKind(verb)},file`;
  return "";
}

function optionKind(path: string[], opt: Option): ValueKinds {
  const verb = path[0] ?? "";
  if (opt.argChoices) return literal(opt.argChoices);
  switch (opt.long) {
    case "--name":
      return NEW_NAME_VERBS.has(verb) || verb === "trust" ? "" : containerKind(verb);
    case "--lxcpath":
    case "--rootfs":
    case "--newpath":
    case "--cwd":
      return opt.long === "--cwd" ? "" : "dir";
    case "--config":
      return "file";
    case "--template":
      return `images,${literal(["busybox", "debian"])}`;
    case "--network":
      return `networks,${literal(["empty"])}`;
    case "--bdev":
    case "--backingstorage":
      return literal(storageBackends());
    case "--restore":
    case "--destroy":
      return verb === "snapshot" ? "snapshots" : "";
    case "--format":
      return literal(["table", "json"]);
    default:
      return "";
  }
}

/** Every visible command of the tree, lxt itself first, each with what it completes. */
export function commandSpecs(program: Command): CommandSpec[] {
  const out: CommandSpec[] = [];
  const walk = (cmd: Command, path: string[]) => {
    const help = cmd.createHelp();
    const flags: string[] = [];
    const values: Record<string, ValueKinds> = {};
    for (const opt of help.visibleOptions(cmd)) {
      const names = [opt.short, opt.long].filter((n): n is string => !!n);
      flags.push(...names);
      if (opt.required || opt.optional) for (const n of names) values[n] = optionKind(path, opt);
    }
    const args = cmd.registeredArguments;
    const subs = visibleCommands(cmd);
    out.push({
      path: path.join(" "),
      subcommands: subs.flatMap((s) => [s.name(), ...s.aliases()]),
      flags,
      values,
      positionals: args.map((a) => argumentKind(path, a)),
      // A command's words after its container are the command's, not lxt's.
      variadic: (args.at(-1)?.variadic ?? false) && args.at(-1)?.name() !== "command",
    });
    for (const sub of subs) {
      walk(sub, [...path, sub.name()]);
      for (const alias of sub.aliases()) {
        const spec = out.find((s) => s.path === [...path, sub.name()].join(" "));
        if (spec) out.push({ ...spec, path: [...path, alias].join(" ") });
      }
    }
  };
  walk(program, []);
  return out;
}
