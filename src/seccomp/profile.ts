/**
 * LXC's seccomp profile format (lxc.container.conf(5), `lxc.seccomp.profile`),
 * parsed into the resolved filter the helper compiles with libseccomp.
 * Version 1: `1`, `allowlist`, then syscall numbers. Version 2: `2`, a policy
 * line (`allowlist`/`denylist`, optionally a default action), then rules
 * `NAME [ACTION [ARG]...]` under optional `[arch]` sections. Pure: the text
 * and the host architecture in, a filter or a `FILE:LINE:` error out.
 */

import { configError } from "../core/errors.js";

export type SeccompOp = "ne" | "lt" | "le" | "eq" | "ge" | "gt" | "masked_eq";

/** One argument comparison, in libseccomp's terms: `arg OP a` or `(arg & a) == b` for masked_eq. */
export interface SeccompCondition {
  arg: number;
  op: SeccompOp;
  /** Decimal u64 strings (datum_a, datum_b of SCMP_CMP). */
  a: string;
  b?: string;
}

/** `allow`, `kill`, `trap`, `log` or `errno:N`. */
export type SeccompAction = string;

export interface SeccompRule {
  /** `all`, or a libseccomp architecture name among the filter's `arches`. */
  arch: string;
  action: SeccompAction;
  /** A syscall name, or a decimal number in the native numbering (version 1). */
  syscall: string;
  conditions: SeccompCondition[];
  /** Where the rule came from, for messages. */
  line: number;
}

export interface SeccompFilter {
  defaultAction: SeccompAction;
  /** libseccomp architecture names; the first is the native one. */
  arches: string[];
  rules: SeccompRule[];
}

/** Native architecture (libseccomp name) and the compat ones a 64-bit kernel runs, as LXC pairs them. */
const HOST_ARCHES: Record<string, string[]> = {
  x86_64: ["x86_64", "x86", "x32"],
  i686: ["x86"],
  i386: ["x86"],
  aarch64: ["aarch64", "arm"],
  armv7l: ["arm"],
  arm: ["arm"],
  ppc64le: ["ppc64le"],
  ppc64: ["ppc64", "ppc"],
  s390x: ["s390x"],
  riscv64: ["riscv64"],
  mips64: ["mips64", "mips64n32", "mips"],
  mips: ["mips"],
};

/** Section names LXC accepts (either case) and the libseccomp arch each means. */
const SECTIONS: Record<string, string> = {
  x86: "x86",
  x32: "x32",
  x86_64: "x86_64",
  arm: "arm",
  arm64: "aarch64",
  ppc64le: "ppc64le",
  ppc64: "ppc64",
  ppc: "ppc",
  mips64: "mips64",
  mips64n32: "mips64n32",
  mips: "mips",
  mipsel64: "mipsel64",
  mipsel64n32: "mipsel64n32",
  mipsel: "mipsel",
  s390x: "s390x",
  s390: "s390",
  riscv64: "riscv64",
};

const OPS: Record<string, SeccompOp> = {
  SCMP_CMP_NE: "ne",
  "!=": "ne",
  SCMP_CMP_LT: "lt",
  "<": "lt",
  SCMP_CMP_LE: "le",
  "<=": "le",
  SCMP_CMP_EQ: "eq",
  "==": "eq",
  SCMP_CMP_GE: "ge",
  ">=": "ge",
  SCMP_CMP_GT: "gt",
  ">": "gt",
  SCMP_CMP_MASKED_EQ: "masked_eq",
  "&=": "masked_eq",
};

const U64_MAX = (1n << 64n) - 1n;
const MNT_FORCE = 1;
const EACCES = 13;

/** The libseccomp architectures of a filter for this host (`uname -m`). */
export function filterArches(hostArch: string): string[] {
  const arches = HOST_ARCHES[hostArch];
  if (!arches) throw new Error(`seccomp: architecture ${hostArch} is not supported`);
  return arches;
}

class Parser {
  constructor(
    private readonly file: string,
    private line = 0,
  ) {}

  at(line: number): this {
    this.line = line;
    return this;
  }

  fail(message: string): Error {
    return configError(this.file, this.line, `seccomp profile: ${message}`);
  }

  /** `kill`, `allow`, `trap`, `log`, `errno N`, `notify`; the words it used, or throws. */
  action(words: string[]): { action: SeccompAction; used: number } {
    const [w, n] = words;
    switch (w) {
      case "allow":
      case "kill":
      case "trap":
      case "log":
      // notify: the monitor forwards the call to lxc.seccomp.notify.proxy.
      case "notify":
        return { action: w, used: 1 };
      case "errno": {
        if (n === undefined || !/^\d+$/.test(n) || Number(n) > 4095)
          throw this.fail(`errno needs a number from 0 to 4095, got "${n ?? ""}"`);
        return { action: `errno:${Number(n)}`, used: 2 };
      }
      default:
        throw this.fail(
          `unknown action "${w}": expected kill, errno N, allow, trap, log or notify`,
        );
    }
  }

  /** A u64 as C's strtoull with base 0 reads it: decimal, 0x hex or 0 octal. */
  u64(text: string): string {
    let v: bigint;
    if (/^0[xX][0-9a-fA-F]+$/.test(text)) v = BigInt(text);
    else if (/^0[0-7]+$/.test(text)) v = BigInt(`0o${text.slice(1)}`);
    else if (/^\d+$/.test(text)) v = BigInt(text);
    else throw this.fail(`"${text}" is not a number (decimal, 0x hex or 0 octal)`);
    if (v > U64_MAX) throw this.fail(`${text} does not fit in 64 bits`);
    return v.toString();
  }

  /** `[INDEX,VALUE,OP]` or `[INDEX,VALUE,OP,MASK]`, as LXC writes them. */
  condition(text: string): SeccompCondition {
    const parts = text
      .slice(1, -1)
      .split(",")
      .map((p) => p.trim());
    if (parts.length !== 3 && parts.length !== 4)
      throw this.fail(`argument "${text}": expected [INDEX,VALUE,OP] or [INDEX,VALUE,OP,MASK]`);
    const [index = "", value = "", opText = "", mask] = parts;
    if (!/^[0-5]$/.test(index)) throw this.fail(`argument "${text}": index must be 0 to 5`);
    const op = OPS[opText];
    if (!op) throw this.fail(`argument "${text}": unknown operator "${opText}"`);
    const v = this.u64(value);
    if (op === "masked_eq") return { arg: Number(index), op, a: this.u64(mask ?? "0"), b: v };
    if (mask !== undefined)
      throw this.fail(`argument "${text}": only SCMP_CMP_MASKED_EQ takes a mask`);
    return { arg: Number(index), op, a: v };
  }
}

/** Drops a trailing `# comment` (LXC's own profiles put them after rules). */
function stripComment(line: string): string {
  const i = line.search(/(^|\s)#/);
  return (i < 0 ? line : line.slice(0, i)).trim();
}

/**
 * Parses a profile. Rules for architectures this host does not run are
 * checked and skipped (as LXC); rules whose action is the default action
 * are no-ops and left out. `reject_force_umount` becomes LXC's rule:
 * `umount2` with MNT_FORCE fails with EACCES.
 */
export function parseSeccompProfile(text: string, file: string, hostArch: string): SeccompFilter {
  const p = new Parser(file);
  const arches = filterArches(hostArch);
  const lines = text.split("\n");
  const header = (lines[0] ?? "").trim();
  if (header !== "1" && header !== "2")
    throw p.at(1).fail(`the first line must be the version, 1 or 2, not "${header}"`);
  const policy = stripComment(lines[1] ?? "");
  const [style = "", ...rest] = policy.split(/\s+/);
  p.at(2);
  const allow = style === "allowlist" || style === "whitelist";
  if (!allow && style !== "denylist" && style !== "blacklist")
    throw p.fail(`expected allowlist or denylist, not "${policy}"`);
  if (header === "1" && !allow) throw p.fail("version 1 profiles are allowlists");
  let defaultAction = allow ? "kill" : "allow";
  if (rest.length > 0) {
    if (header === "1") throw p.fail(`unexpected "${rest.join(" ")}" after ${style}`);
    const { action, used } = p.action(rest);
    if (used !== rest.length) throw p.fail(`unexpected "${rest.slice(used).join(" ")}"`);
    if (action === "notify") throw p.fail("notify is a rule's action, not a default");
    defaultAction = action;
  }
  const ruleDefault = allow ? "allow" : "kill";
  const rules: SeccompRule[] = [];
  const add = (rule: SeccompRule) => {
    if (rule.action !== defaultAction) rules.push(rule);
  };
  let arch: string | undefined = "all";
  for (let i = 2; i < lines.length; i++) {
    p.at(i + 1);
    const line = stripComment(lines[i] as string);
    if (line === "") continue;
    if (header === "1") {
      if (!/^\d+$/.test(line) || Number(line) > 0x7fffffff)
        throw p.fail(`"${line}": version 1 profiles list syscall numbers, one per line`);
      add({
        arch: arches[0] as string,
        action: "allow",
        syscall: String(Number(line)),
        conditions: [],
        line: i + 1,
      });
      continue;
    }
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      const name = (section[1] as string).trim();
      if (name === "all" || name === "ALL") arch = "all";
      else {
        const a = SECTIONS[name.toLowerCase()];
        if (!a || (name !== name.toLowerCase() && name !== name.toUpperCase()))
          throw p.fail(`unknown architecture section [${name}]`);
        arch = arches.includes(a) ? a : undefined;
      }
      continue;
    }
    const rule = parseRule(p, line, ruleDefault, i + 1);
    if (arch === undefined) continue;
    if (rule === "reject_force_umount") {
      add({
        arch,
        action: `errno:${EACCES}`,
        syscall: "umount2",
        conditions: [{ arg: 1, op: "masked_eq", a: String(MNT_FORCE), b: String(MNT_FORCE) }],
        line: i + 1,
      });
    } else {
      add({ ...rule, arch });
    }
  }
  return { defaultAction, arches, rules };
}

function parseRule(
  p: Parser,
  line: string,
  ruleDefault: string,
  lineNo: number,
): Omit<SeccompRule, "arch"> | "reject_force_umount" {
  const firstSpace = line.search(/\s/);
  const name = firstSpace < 0 ? line : line.slice(0, firstSpace);
  const tail = firstSpace < 0 ? "" : line.slice(firstSpace).trim();
  if (name === "reject_force_umount") {
    if (tail !== "") throw p.fail(`reject_force_umount takes nothing after it, got "${tail}"`);
    return "reject_force_umount";
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw p.fail(`"${name}" is not a syscall name (lowercase letters, digits, _)`);
  const argStart = tail.indexOf("[");
  const actionText = (argStart < 0 ? tail : tail.slice(0, argStart)).trim();
  let action = ruleDefault;
  if (actionText !== "") {
    const words = actionText.split(/\s+/);
    const parsed = p.action(words);
    if (parsed.used !== words.length)
      throw p.fail(`unexpected "${words.slice(parsed.used).join(" ")}" after the action`);
    action = parsed.action;
  } else if (argStart >= 0) {
    throw p.fail(`${name}: argument conditions need an action before them`);
  }
  const conditions: SeccompCondition[] = [];
  if (argStart >= 0) {
    const args = tail.slice(argStart);
    const groups = args.match(/\[[^\]]*\]/g) ?? [];
    if (args.replace(/\[[^\]]*\]/g, "").trim() !== "")
      throw p.fail(`${name}: malformed arguments "${args}": expected [INDEX,VALUE,OP] groups`);
    if (groups.length > 6) throw p.fail(`${name}: at most 6 argument conditions`);
    for (const g of groups) {
      const c = p.condition(g);
      if (conditions.some((o) => o.arg === c.arg))
        throw p.fail(
          `${name}: argument ${c.arg} is compared twice (libseccomp allows one comparison per argument)`,
        );
      conditions.push(c);
    }
  }
  return { action, syscall: name, conditions, line: lineNo };
}
