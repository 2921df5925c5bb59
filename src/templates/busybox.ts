/**
 * The `busybox` template: a minimal system container whose every command is
 * one static busybox binary, built the way LXC's `lxc-busybox` template does
 * (/usr/share/lxc/templates/lxc-busybox), minus the parts lxt does not
 * implement yet (AppArmor, id maps, host library binds). Capability drops
 * and the seccomp filter are lxt's defaults (docs/security.md), not lines
 * in the config.
 *
 * Differences from LXC's template, on purpose:
 * - applets are linked where `busybox --list-full` says (`sbin/syslogd`,
 *   `usr/bin/passwd`, ...), not all into `bin/`, and `sbin/init` is one of
 *   those symlinks rather than a hard link;
 * - busybox is not made setuid (LXC's `chmod +s bin/passwd` follows the
 *   symlink to busybox itself);
 * - `root/` is 0700 and root's password is locked explicitly in `etc/shadow`;
 * - rcS runs udhcpc in the background, and only when `eth0` exists and
 *   has no static IPv4 address;
 * - the getty lines in inittab match `lxc.tty.max`, so a container without
 *   ttys has no getty respawning on a missing device.
 */

import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { access, chmod, copyFile, mkdir, open, stat, symlink, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { promisify } from "node:util";
import { errnoCode, LxtError, wrapError } from "../core/errors.js";

const execFileAsync = promisify(execFile);

/** Where a static busybox is looked for when none is given. */
export const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"] as const;

/** Where lxt installs udhcpc's event script (rcS passes it with `-s`). */
export const UDHCPC_SCRIPT = "usr/share/udhcpc/default.script";

export interface BusyboxTemplateOptions {
  /** Container name: becomes the hostname (`etc/hostname`, `lxc.uts.name`). */
  name: string;
  /** Path of a statically linked busybox; default: the first of BUSYBOX_CANDIDATES. */
  busybox?: string;
  /**
   * Number of ttys (`lxc.tty.max`); inittab gets a getty on tty1..ttyN.
   * Default 1, like LXC's inittab (one getty); 0 means no getty at all.
   */
  ttys?: number;
  /** `lxc.net.0`: `empty` or a bridge / managed network name; default DEFAULT_CONTAINER_NETWORK. */
  network?: string;
}

export interface BusyboxTemplateResult {
  /** Keys the template adds to the container's config, in order. */
  configLines: Array<[key: string, value: string]>;
}

/** Directories of the tree and their modes (parents come before children). */
const TREE: ReadonlyArray<readonly [path: string, mode: number]> = [
  ["bin", 0o755],
  ["sbin", 0o755],
  ["dev", 0o755],
  ["dev/pts", 0o755],
  ["etc", 0o755],
  ["etc/init.d", 0o755],
  ["home", 0o755],
  ["lib", 0o755],
  ["lib64", 0o755],
  ["mnt", 0o755],
  ["proc", 0o555],
  ["root", 0o700],
  ["run", 0o755],
  ["sys", 0o555],
  ["tmp", 0o1777],
  ["usr", 0o755],
  ["usr/bin", 0o755],
  ["usr/sbin", 0o755],
  ["usr/lib", 0o755],
  ["usr/share", 0o755],
  ["usr/share/udhcpc", 0o755],
  ["var", 0o755],
  ["var/lib", 0o755],
  ["var/log", 0o755],
  ["var/run", 0o755],
  ["var/tmp", 0o1777],
];

/**
 * Builds a busybox root filesystem in `rootfs` (created if missing; expected
 * empty) and returns the config keys the template contributes. On failure the
 * tree is left half-built: the caller, which owns `rootfs`, removes it.
 * Throws LxtError `host` when no usable static busybox is found.
 */
export async function createBusyboxRootfs(
  rootfs: string,
  opts: BusyboxTemplateOptions,
): Promise<BusyboxTemplateResult> {
  const ttys = opts.ttys ?? 1;
  if (!Number.isInteger(ttys) || ttys < 0 || ttys > 63) {
    throw new LxtError("usage", `template busybox: ttys must be an integer 0-63, got ${ttys}`);
  }
  netConfigLines(opts.network ?? DEFAULT_CONTAINER_NETWORK); // validated before anything is built
  const busybox = await findStaticBusybox(opts.busybox);
  const probe = await probeBusybox(busybox);

  try {
    await mkdir(rootfs, { recursive: true });
    for (const [dir, mode] of TREE) {
      const p = join(rootfs, dir);
      await mkdir(p, { recursive: true });
      await chmod(p, mode); // explicit: mkdir's mode is filtered by the umask
    }

    await copyFile(busybox, join(rootfs, "bin/busybox"));
    await chmod(join(rootfs, "bin/busybox"), 0o755);
    await linkApplets(rootfs, probe.applets);

    for (const f of renderFiles(opts.name, ttys, probe.udhcpcDefault)) {
      const p = join(rootfs, f.path);
      await mkdir(dirname(p), { recursive: true });
      if (f.link !== undefined) {
        await symlink(f.link, p);
      } else {
        await writeFile(p, f.content ?? "", { flag: "wx" });
        await chmod(p, f.mode ?? 0o644);
      }
    }
  } catch (err) {
    throw wrapError(`template busybox: build ${rootfs}`, err);
  }

  return { configLines: busyboxConfigLines(opts.name, ttys, opts.network) };
}

/** The network a new container joins unless told otherwise (created on first start). */
export const DEFAULT_CONTAINER_NETWORK = "lxtbr0";

/**
 * `lxc.net.0.*` of a new container: `empty` (a loopback only), or a veth on
 * the bridge or managed network `network`, as LXC's default.conf puts one on
 * lxcbr0. No hwaddr: lxt derives a stable one from the name (DHCP leases
 * survive restarts).
 */
export function netConfigLines(network: string): Array<[string, string]> {
  if (network === "empty") return [["lxc.net.0.type", "empty"]];
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(network)) {
    throw new LxtError(
      "usage",
      `network "${network}": expected empty or a bridge / managed network name (1-15 characters)`,
    );
  }
  return [
    ["lxc.net.0.type", "veth"],
    ["lxc.net.0.link", network],
    ["lxc.net.0.flags", "up"],
  ];
}

/** The config keys of the template (pure; exported for tests and `create`). */
export function busyboxConfigLines(
  name: string,
  ttys = 1,
  network: string = DEFAULT_CONTAINER_NETWORK,
): Array<[string, string]> {
  return [
    ["lxc.uts.name", name],
    // busybox init halts on SIGUSR1 and reboots on SIGTERM (init(8) of busybox)
    ["lxc.signal.halt", "SIGUSR1"],
    ["lxc.signal.reboot", "SIGTERM"],
    ["lxc.tty.max", String(ttys)],
    ["lxc.pty.max", "1024"],
    ["lxc.mount.auto", "proc:mixed sys:ro"],
    ["lxc.autodev", "1"],
    ...netConfigLines(network),
  ];
}

/**
 * Resolves the busybox to copy: `explicit` if given, else the first existing
 * candidate; it must be an executable ELF without a PT_INTERP segment (static).
 */
export async function findStaticBusybox(explicit?: string): Promise<string> {
  const candidates = explicit !== undefined ? [explicit] : [...BUSYBOX_CANDIDATES];
  let found: string | undefined;
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      found = c;
      break;
    } catch (err) {
      if (explicit !== undefined) {
        throw new LxtError(
          "host",
          `template busybox: ${c}: ${errnoCode(err) ?? "not usable"}`,
          err,
        );
      }
    }
  }
  if (found === undefined) {
    throw new LxtError(
      "host",
      `template busybox: no busybox found (looked at ${candidates.join(", ")}); install busybox-static`,
    );
  }
  const kind = await elfLinkage(found);
  if (kind === "not-elf") {
    throw new LxtError("host", `template busybox: ${found}: not an ELF executable`);
  }
  if (kind === "dynamic") {
    throw new LxtError(
      "host",
      `template busybox: ${found} is dynamically linked; the container has no libraries for it: ` +
        "install busybox-static or pass a static busybox",
    );
  }
  return found;
}

/**
 * Reads the ELF header and program headers of `file`: "dynamic" when there is
 * a PT_INTERP segment (it needs a loader), "static" otherwise (static PIE
 * included). See elf(5).
 */
export async function elfLinkage(file: string): Promise<"static" | "dynamic" | "not-elf"> {
  const fh = await open(file, "r");
  try {
    const ident = Buffer.alloc(64);
    const { bytesRead } = await fh.read(ident, 0, 64, 0);
    if (bytesRead < 52 || ident.readUInt32BE(0) !== 0x7f454c46) return "not-elf";
    const is64 = ident[4] === 2;
    const le = ident[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const phoff = is64
      ? Number(le ? ident.readBigUInt64LE(32) : ident.readBigUInt64BE(32))
      : u32(ident, 28);
    const phentsize = u16(ident, is64 ? 54 : 42);
    const phnum = u16(ident, is64 ? 56 : 44);
    if (phentsize < 4 || phnum === 0 || phnum > 4096) return "not-elf";
    const ph = Buffer.alloc(phentsize * phnum);
    const r = await fh.read(ph, 0, ph.length, phoff);
    if (r.bytesRead < ph.length) return "not-elf";
    const PT_INTERP = 3;
    for (let i = 0; i < phnum; i++) {
      if (u32(ph, i * phentsize) === PT_INTERP) return "dynamic";
    }
    return "static";
  } finally {
    await fh.close();
  }
}

/** What the template asks a busybox binary (two runs of it). */
interface BusyboxProbe {
  applets: string[];
  udhcpcDefault: string | undefined;
}

/**
 * The last probe, with the identity of the binary it was made from: a bulk
 * of creates asks the same busybox, and a changed file (an upgrade: another
 * inode, size or mtime) is asked again.
 */
let lastProbe: { id: string; probe: Promise<BusyboxProbe> } | undefined;

/** `busybox --list-full` and its udhcpc's default script, run once per binary. */
async function probeBusybox(busybox: string): Promise<BusyboxProbe> {
  const st = await stat(busybox);
  const id = `${busybox}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  if (lastProbe?.id !== id) {
    const probe = Promise.all([listApplets(busybox), udhcpcDefaultScript(busybox)]).then(
      ([applets, udhcpcDefault]) => ({ applets, udhcpcDefault }),
    );
    lastProbe = { id, probe };
    // A failed probe is not kept: the next create asks again.
    probe.catch(() => {
      if (lastProbe?.probe === probe) lastProbe = undefined;
    });
  }
  return lastProbe.probe;
}

/** `busybox --list-full`: applet paths relative to `/`, busybox itself excluded. */
async function listApplets(busybox: string): Promise<string[]> {
  let out: string;
  try {
    ({ stdout: out } = await execFileAsync(busybox, ["--list-full"], { maxBuffer: 1 << 20 }));
  } catch (err) {
    throw wrapError(`template busybox: ${busybox} --list-full`, err);
  }
  const applets = out
    .split("\n")
    .map((l) => l.trim())
    .filter(
      (l) => l !== "" && l !== "bin/busybox" && !l.startsWith("/") && !l.split("/").includes(".."),
    );
  if (applets.length === 0) {
    throw new LxtError("host", `template busybox: ${busybox} --list-full listed no applets`);
  }
  return applets;
}

/**
 * Symlinks each applet to /bin/busybox with a relative target. Each
 * directory is made once, then the links all at once (the thread pool
 * makes them side by side, the event loop stays free).
 */
async function linkApplets(rootfs: string, applets: string[]): Promise<void> {
  const dirs = new Set(applets.map((a) => dirname(join(rootfs, a))));
  for (const [dir] of TREE) dirs.delete(join(rootfs, dir));
  for (const dir of dirs) await mkdir(dir, { recursive: true });
  // Settled, every one, before a failure is thrown: the caller removes the tree.
  const done = await Promise.allSettled(
    applets.map((applet) =>
      symlink(posix.relative(posix.dirname(`/${applet}`), "/bin/busybox"), join(rootfs, applet)),
    ),
  );
  for (const r of done) {
    // --list-full may name an applet twice (the same path, the same target)
    if (r.status === "rejected" && errnoCode(r.reason) !== "EEXIST") throw r.reason;
  }
}

/**
 * Where this busybox's udhcpc looks for its event script by default (from
 * `udhcpc --help`, as lxc-busybox does), relative to `/`; undefined if unknown.
 */
async function udhcpcDefaultScript(busybox: string): Promise<string | undefined> {
  let text = "";
  try {
    const r = await execFileAsync(busybox, ["udhcpc", "--help"]);
    text = r.stdout + r.stderr;
  } catch (err) {
    // `--help` exits 1 on some builds; the text is still in the error
    if (err && typeof err === "object" && "stderr" in err) text = String(err.stderr);
  }
  const m = /-s\s+PROG.*\(default (\/[^)\s]+)\)/.exec(text);
  return m?.[1] ? m[1].slice(1) : undefined;
}

interface RootfsFile {
  path: string;
  content?: string;
  mode?: number;
  /** Symlink target instead of content. */
  link?: string;
}

/** Every file the template writes, as data (pure). */
export function renderFiles(name: string, ttys: number, udhcpcDefault?: string): RootfsFile[] {
  const files: RootfsFile[] = [
    { path: "etc/inittab", content: renderInittab(ttys) },
    { path: "etc/init.d/rcS", content: RCS, mode: 0o755 },
    {
      path: "etc/fstab",
      content: "# proc and sys are mounted by the container manager (lxc.mount.auto)\n",
    },
    { path: "etc/passwd", content: "root:x:0:0:root:/root:/bin/sh\n" },
    { path: "etc/group", content: "root:x:0:root\n" },
    // `*` in the password field: root cannot log in with a password (getty);
    // attach and the console shell do not ask for one
    { path: "etc/shadow", content: "root:*:0:0:99999:7:::\n", mode: 0o600 },
    { path: "etc/hostname", content: `${name}\n` },
    {
      path: "etc/hosts",
      content: `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    },
    { path: "etc/profile", content: PROFILE },
    { path: "etc/resolv.conf", content: "" },
    { path: UDHCPC_SCRIPT, content: UDHCPC_EVENT_SCRIPT, mode: 0o755 },
  ];
  // so that `udhcpc` typed by hand finds the script at this busybox's default too
  if (udhcpcDefault !== undefined && udhcpcDefault !== UDHCPC_SCRIPT) {
    const link = posix.relative(posix.dirname(`/${udhcpcDefault}`), `/${UDHCPC_SCRIPT}`);
    files.push({ path: udhcpcDefault, link });
  }
  return files;
}

/** busybox init's inittab: rcS once, a getty per tty, a shell on the console. */
export function renderInittab(ttys: number): string {
  const lines = ["# busybox init(8): <tty>::<action>:<command>", "::sysinit:/etc/init.d/rcS"];
  for (let i = 1; i <= ttys; i++) {
    lines.push(`tty${i}::respawn:/sbin/getty -L tty${i} 115200 vt100`);
  }
  lines.push("console::askfirst:/bin/sh");
  return `${lines.join("\n")}\n`;
}

const RCS = `#!/bin/sh
# Run once by init at boot (::sysinit in /etc/inittab).
export PATH=/sbin:/usr/sbin:/bin:/usr/bin

mount -a
syslogd

# DHCP only when the container has a NIC to configure and no static address
# (lxc.net.0.ipv4.address; udhcpc's deconfig would flush it); -b: do not block boot.
# One \`ip\` run, as boot competes with the start for the CPU: it fails without
# an eth0 and prints nothing for an eth0 with no IPv4 address.
if v4=$(ip -o -4 addr show dev eth0 2>/dev/null) && [ -z "$v4" ]; then
  udhcpc -b -S -i eth0 -s /${UDHCPC_SCRIPT}
fi
`;

const PROFILE = `export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export HOME=\${HOME:-/root}
if [ "$(id -u)" -eq 0 ]; then
  PS1='\\u@\\h:\\w# '
else
  PS1='\\u@\\h:\\w$ '
fi
export PS1
`;

/**
 * udhcpc's event script. udhcpc(8) runs it with $1 = deconfig | bound | renew
 * | leasefail | nak and the lease in the environment: $interface, $ip, $mask
 * (prefix length), $broadcast, $router, $dns, $domain.
 */
const UDHCPC_EVENT_SCRIPT = `#!/bin/sh
RESOLV_CONF=/etc/resolv.conf

case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set dev "$interface" up
    ;;

  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" \${broadcast:+broadcast $broadcast} dev "$interface"

    if [ -n "$router" ]; then
      while ip route del default dev "$interface" 2>/dev/null; do :; done
      for r in $router; do
        ip route add default via "$r" dev "$interface" && break
      done
    fi

    if [ -n "$dns" ] || [ -n "$domain" ]; then
      tmp="$RESOLV_CONF.udhcpc"
      : > "$tmp"
      [ -n "$domain" ] && echo "search $domain" >> "$tmp"
      for ns in $dns; do
        echo "nameserver $ns" >> "$tmp"
      done
      mv -f "$tmp" "$RESOLV_CONF"
    fi
    ;;
esac
exit 0
`;
