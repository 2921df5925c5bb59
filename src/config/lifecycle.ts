/**
 * The lifecycle keys outside the start itself: autostart (`lxc.start.*`,
 * `lxc.group`) and hooks (`lxc.hook.*`, `lxc.environment.hooks`), resolved
 * as LXC reads them (lxc.container.conf(5), "AUTOSTART" and "CONTAINER
 * HOOKS"). Pure: the runs are in container/autostart.ts and
 * container/hooks.ts.
 */

import { parseBool01, parseEnvironment, parseInteger, ValueError } from "./values.js";

/** Every `lxc.hook.TYPE`, in the order LXC runs them over a container's life. */
export const HOOK_TYPES = [
  "pre-start",
  "pre-mount",
  "mount",
  "autodev",
  "start-host",
  "start",
  "stop",
  "post-stop",
  "clone",
  "destroy",
] as const;
export type HookType = (typeof HOOK_TYPES)[number];

/** `lxc.start.auto`, `.delay`, `.order` and `lxc.group`. */
export interface AutostartConfig {
  auto: boolean;
  /** Seconds to wait after starting this container, before the next. */
  delay: number;
  order: number;
  /** The groups it belongs to; none is LXC's NULL group. */
  groups: string[];
}

/** The hooks of a container: commands (shell text, as LXC runs them) per type. */
export interface HooksConfig {
  /** `lxc.hook.version`: 0 passes NAME SECTION TYPE as arguments, 1 in LXC_HOOK_* variables. */
  version: 0 | 1;
  commands: Record<HookType, string[]>;
  /**
   * The hooks' own variables, `NAME=value` (inherited names filled in):
   * `lxc.environment` then `lxc.environment.hooks`, as LXC sets them (a
   * later value for a name wins; see hookEnvironment).
   */
  environment: { shared: string[]; hooks: string[] };
}

export function defaultAutostart(): AutostartConfig {
  return { auto: false, delay: 0, order: 0, groups: [] };
}

export function defaultHooks(): HooksConfig {
  const commands = Object.fromEntries(HOOK_TYPES.map((t) => [t, [] as string[]]));
  return {
    version: 0,
    commands: commands as Record<HookType, string[]>,
    environment: { shared: [], hooks: [] },
  };
}

/** True when any hook is set. */
export function hasHooks(h: HooksConfig, types: readonly HookType[] = HOOK_TYPES): boolean {
  return types.some((t) => h.commands[t].length > 0);
}

/**
 * Applies one autostart entry; false if the key is not one. LXC splits
 * `lxc.group` values on blanks, so `lxc.group = web onboot` is two groups.
 */
export function applyAutostartEntry(a: AutostartConfig, key: string, v: string): boolean {
  switch (key) {
    case "lxc.start.auto":
      a.auto = v === "" ? false : parseBool01(v);
      return true;
    case "lxc.start.delay":
      a.delay = v === "" ? 0 : parseInteger(v);
      return true;
    case "lxc.start.order":
      a.order = v === "" ? 0 : parseInteger(v, -0x80000000, 0x7fffffff);
      return true;
    case "lxc.group":
      if (v === "") a.groups = [];
      else for (const g of v.split(/[ \t]+/)) if (g && !a.groups.includes(g)) a.groups.push(g);
      return true;
    default:
      return false;
  }
}

/** The hooks' variables from the config, in the order LXC sets them. */
export function hookEnvironment(h: HooksConfig): string[] {
  const out = new Map<string, string>();
  for (const e of [...h.environment.shared, ...h.environment.hooks]) {
    const i = e.indexOf("=");
    out.set(e.slice(0, i), e);
  }
  return [...out.values()];
}

/**
 * Applies one hook entry; false if the key is not one. `lxc.hook =` clears
 * every hook, `lxc.hook.TYPE =` that type's; `lxc.environment` (also read
 * for the init elsewhere) and `lxc.environment.hooks` = NAME take NAME's
 * value from `env` (an error when unset, as LXC).
 */
export function applyHookEntry(
  h: HooksConfig,
  key: string,
  v: string,
  env: Record<string, string | undefined>,
): boolean {
  if (key === "lxc.hook") {
    for (const t of HOOK_TYPES) h.commands[t] = [];
    return true;
  }
  if (key === "lxc.hook.version") {
    h.version = v === "" ? 0 : (parseInteger(v, 0, 1) as 0 | 1);
    return true;
  }
  if (key === "lxc.environment.hooks" || key === "lxc.environment") {
    const which = key === "lxc.environment" ? "shared" : "hooks";
    if (v === "") {
      h.environment[which] = [];
      return true;
    }
    const { name, value } = parseEnvironment(v);
    const got = value ?? env[name];
    if (got === undefined) throw new ValueError(`${name} is not set in the caller's environment`);
    const kept = h.environment[which].filter((e) => !e.startsWith(`${name}=`));
    h.environment[which] = [...kept, `${name}=${got}`];
    return true;
  }
  if (!key.startsWith("lxc.hook.")) return false;
  const type = key.slice("lxc.hook.".length) as HookType;
  if (!HOOK_TYPES.includes(type)) return false;
  if (v === "") h.commands[type] = [];
  else h.commands[type].push(v);
  return true;
}
