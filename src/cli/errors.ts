/**
 * What the CLI makes of an error code: its exit status and the hint printed
 * under the message (hints may name flags and commands; the core's
 * messages do not need to).
 */
import type { ErrorCode } from "../core/errors.js";

export const CLI_ERRORS: Readonly<Record<ErrorCode, { exit: number; hint: string }>> = {
  config: { exit: 2, hint: "see lxc.container.conf(5) and docs/config.md" },
  usage: { exit: 2, hint: "see --help" },
  name: {
    exit: 2,
    hint: "names are 1-64 characters: letters, digits, '-', '_' and '.', starting with a letter or digit",
  },
  "not-found": { exit: 1, hint: "see `lxt ls`" },
  exists: { exit: 1, hint: "pick another name or `lxt destroy` the old one" },
  state: { exit: 1, hint: "see `lxt info`" },
  unsupported: {
    exit: 1,
    hint: "lxt does not do this; the message says why (change the key or the request it names)",
  },
  host: { exit: 1, hint: "run the README's setup command" },
  "cgroup-delegation": {
    exit: 1,
    hint: 'run lxt as the only process of a delegated cgroup, e.g. `systemd-run --scope -p Delegate=yes lxt start NAME` (docs/config.md, "cgroup v2 delegation")',
  },
  daemon: { exit: 1, hint: "start it: `lxtd -P STATE_ROOT` (or the lxtd systemd unit)" },
  remote: {
    exit: 1,
    hint: "see `lxt remote list`; the remote's own log (lxtd) has its side",
  },
  start: { exit: 1, hint: "every step was undone; the message names the step that failed" },
  checkpoint: {
    exit: 1,
    hint: "CRIU's log (named in the message) has the whole story; docs/checkpoint.md lists what is refused and why",
  },
  hook: { exit: 1, hint: "the message ends with what the hook wrote on stderr" },
  "no-space": { exit: 1, hint: "free space on that filesystem, or use another state root (-P)" },
  timeout: { exit: 1, hint: "" },
  cancelled: { exit: 130, hint: "" },
  internal: { exit: 70, hint: "this is a bug in lxt; please report it" },
  system: { exit: 1, hint: "" },
};
