/**
 * Value parsers for config keys. Each takes the (already trimmed) value and
 * returns the typed result, or throws a ValueError saying what was expected;
 * the caller adds the file, line and key.
 */

/** A malformed value; the message says what was expected. */
export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValueError";
  }
}

function bad(value: string, expected: string): ValueError {
  return new ValueError(`invalid value "${value}": expected ${expected}`);
}

/** `0` or `1`, as LXC's boolean keys take. */
export function parseBool01(value: string): boolean {
  if (value === "0") return false;
  if (value === "1") return true;
  throw bad(value, "0 or 1");
}

/** A decimal integer in [min, max]. */
export function parseInteger(value: string, min = 0, max = 0xffffffff): number {
  if (!/^[+-]?\d+$/.test(value)) {
    throw bad(value, min >= 0 ? "a non-negative integer" : "an integer");
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw bad(value, `an integer from ${min} to ${max}`);
  }
  return n;
}

/** A uid or gid (0 .. 2^32-2; 2^32-1 is the kernel's "no id"). */
export function parseId(value: string): number {
  return parseInteger(value, 0, 0xfffffffe);
}

/** An absolute path. */
export function parseAbsPath(value: string): string {
  if (!value.startsWith("/")) throw bad(value, "an absolute path");
  if (value.includes("\0")) throw bad(value, "a path without NUL bytes");
  return value;
}

// x86_64 signal numbers, signal(7).
const SIGNALS: Record<string, number> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};
/** glibc's SIGRTMIN (the kernel's 32 and 33 are reserved by NPTL). */
export const SIGRTMIN = 34;
/** SIGRTMAX on Linux. */
export const SIGRTMAX = 64;

/**
 * A signal in kill(1) fashion: a number, a name with or without `SIG`
 * (case-insensitive), or `SIGRTMIN+n` / `SIGRTMAX-n`. Returns its number.
 * `allowZero` admits 0 (lxc.monitor.signal.pdeath uses it for "none").
 */
export function parseSignal(value: string, allowZero = false): number {
  const expected = "a signal name (SIGPWR, PWR, SIGRTMIN+3) or number";
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n > SIGRTMAX || (n === 0 && !allowZero)) throw bad(value, `${expected} from 1 to 64`);
    return n;
  }
  const name = value.toUpperCase().replace(/^SIG/, "");
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === "MIN" ? SIGRTMIN : SIGRTMAX;
    const off = rt[3] === undefined ? 0 : Number(rt[3]);
    const n = rt[2] === "-" ? base - off : base + off;
    if (n < SIGRTMIN || n > SIGRTMAX)
      throw bad(value, `a real-time signal from ${SIGRTMIN} to ${SIGRTMAX}`);
    return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw bad(value, expected);
  return n;
}

const LOG_LEVELS: Record<string, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  notice: 3,
  warn: 4,
  warning: 4,
  error: 5,
  crit: 6,
  critical: 6,
  alert: 7,
  fatal: 8,
};

/** A log level name (trace … fatal, any case) or 0–8; lower is more verbose. */
export function parseLogLevel(value: string): number {
  if (/^\d+$/.test(value)) return parseInteger(value, 0, 8);
  const n = LOG_LEVELS[value.toLowerCase()];
  if (n === undefined)
    throw bad(value, "trace, debug, info, notice, warn, error, crit, alert, fatal or 0-8");
  return n;
}

/** Syslog facilities lxc.log.syslog accepts. */
export const SYSLOG_FACILITIES = [
  "daemon",
  "local0",
  "local1",
  "local2",
  "local3",
  "local4",
  "local5",
  "local6",
  "local7",
];

/** RLIMIT_* numbers on x86_64, setrlimit(2); keys as lxc.prlimit.<name>. */
export const RLIMITS: Record<string, number> = {
  cpu: 0,
  fsize: 1,
  data: 2,
  stack: 3,
  core: 4,
  rss: 5,
  nproc: 6,
  nofile: 7,
  memlock: 8,
  as: 9,
  locks: 10,
  sigpending: 11,
  msgqueue: 12,
  nice: 13,
  rtprio: 14,
  rttime: 15,
};

/** A resource limit: -1 is unlimited (RLIM_INFINITY). */
export interface RlimitValue {
  soft: number;
  hard: number;
}

/** `soft[:hard]`, each a number or `unlimited`; one value sets both. */
export function parseRlimit(value: string): RlimitValue {
  const expected = 'soft[:hard], each a number or "unlimited"';
  const parts = value.split(":").map((p) => p.trim());
  if (parts.length > 2 || parts.some((p) => p === "")) throw bad(value, expected);
  const nums = parts.map((p) => {
    if (p === "unlimited") return -1;
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(Number(p))) throw bad(value, expected);
    return Number(p);
  });
  const soft = nums[0] as number;
  const hard = nums[1] ?? soft;
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    throw new ValueError(`invalid value "${value}": the soft limit is above the hard limit`);
  }
  return { soft, hard };
}

/**
 * Sysctls that belong to a namespace the container gets (net, ipc, uts).
 * Anything else would change the host, so it is refused; see
 * lxc.container.conf(5) SYSCTL and sysctl(8).
 */
const NAMESPACED_SYSCTLS = [
  /^net[./]/,
  /^kernel[./]shm/,
  /^kernel[./]msg/,
  /^kernel[./]sem(_next_id)?$/,
  /^fs[./]mqueue[./]/,
  /^kernel[./](hostname|domainname)$/,
];

/** Checks a sysctl name (the part after `lxc.sysctl.`). */
export function checkSysctlName(name: string): void {
  if (name === "" || name.includes("..") || name.startsWith("/") || name.endsWith(".")) {
    throw new ValueError(`malformed sysctl name "${name}"`);
  }
  if (!NAMESPACED_SYSCTLS.some((re) => re.test(name))) {
    throw new ValueError(
      `sysctl ${name} is not namespaced, so setting it would change the host; ` +
        "allowed: net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname, kernel.domainname",
    );
  }
}

/**
 * Splits a command line into words the way LXC splits lxc.init.cmd: on
 * blanks, with single quotes (literal) and double quotes (where `\"` and
 * `\\` escape) grouping words, and a backslash escaping the next character
 * outside quotes. No expansion of any kind.
 */
export function splitCommand(value: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && (value[i + 1] === '"' || value[i + 1] === "\\")) word += value[++i];
      else word += c;
    } else if (c === " " || c === "\t") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      inWord = true;
      if (c === "'" || c === '"') quote = c;
      else if (c === "\\" && i + 1 < value.length) word += value[++i];
      else word += c;
    }
  }
  if (quote) throw bad(value, `a command with balanced quotes (unterminated ${quote})`);
  if (inWord) words.push(word);
  if (words.length === 0) throw bad(value, "a command");
  return words;
}

/** An environment entry: `NAME=value`, or `NAME` to inherit the caller's value. */
export function parseEnvironment(value: string): { name: string; value?: string } {
  const eq = value.indexOf("=");
  const name = eq < 0 ? value : value.slice(0, eq);
  if (!/^[^=\s\0]+$/.test(name)) throw bad(value, "NAME=value or NAME");
  return eq < 0 ? { name } : { name, value: value.slice(eq + 1) };
}

/** A network interface name (IFNAMSIZ-1 bytes, no '/' or blanks). */
export function parseIfName(value: string): string {
  if (value.length > 15 || !/^[^/\s:]+$/.test(value) || value === "." || value === "..") {
    throw bad(value, "an interface name of at most 15 characters without '/', ':' or blanks");
  }
  return value;
}

/** A byte size with an optional KB/MB/GB suffix (1024-based, any case), or `auto`. */
export function parseByteSize(value: string): number {
  if (value === "auto") return 128 * 1024;
  const m = /^(\d+)\s*([kmg]i?b)?$/i.exec(value);
  if (!m) throw bad(value, "a size such as 4096, 64KB, 1MB or auto");
  const unit = (m[2] ?? "").toLowerCase()[0];
  const mult = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}
