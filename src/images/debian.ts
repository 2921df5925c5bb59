/**
 * Debian images built by debootstrap, as LXC's debian template does: built
 * once per machine into a cache outside any state root
 * (`/var/cache/lxt/images/debian-SUITE-VARIANT-ARCH-fN.tar.zst` and its
 * manifest), verified by sha256 before every use and rebuilt when it does
 * not match, then imported into the state root's image store, from which
 * each container is a copy-on-write clone (or a copy on dir).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { cleanStaleStaging, makeStaging } from "../container/staging.js";
import type { Context, Env } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { writeFileAtomic } from "../host/atomic.js";
import { compressionArgs, runTar, TAR_KEEP } from "../storage/archive.js";
import { explainNoSpace } from "../storage/space.js";
import { DEFAULT_CONTAINER_NETWORK, netConfigLines } from "../templates/busybox.js";
import type { ImageMeta } from "./metadata.js";
import { ociArchitecture } from "./oci.js";
import { importImage } from "./store.js";

/** Bumped when what a build puts in the tree changes, so old caches are not used. */
export const DEBIAN_IMAGE_FORMAT = 3;

export interface DebianOptions {
  suite: string;
  variant: string;
  arch: string;
  mirror: string;
}

/**
 * Packages beyond the variant: an init that runs in a container, ip, ps, and
 * systemd-resolved so that the DNS server DHCP gives reaches
 * /etc/resolv.conf, with dbus named: resolved depends on the virtual
 * `default-dbus-system-bus`, which debootstrap's resolver does not follow. DHCP itself is systemd-networkd, part of
 * systemd; no ifupdown, so one network manager owns the NICs.
 */
export const DEBIAN_INCLUDE = ["systemd-sysv", "systemd-resolved", "dbus", "iproute2", "procps"];

/** The networkd file of the image: DHCPv4 and IPv6 RA on every veth-style NIC. */
export const DEBIAN_NETWORKD_FILE = "etc/systemd/network/80-lxt-dhcp.network";
export const DEBIAN_NETWORKD_TEXT = `# lxt: DHCP (IPv4) and router advertisements (IPv6) on the container's NICs,
# as a managed network (lxt network) serves them. An address lxt configured
# before init (lxc.net.N.ipv4.address) is kept beside the lease.
[Match]
Name=eth* en*

[Network]
DHCP=yes
IPv6AcceptRA=yes
KeepConfiguration=static
`;

/**
 * Units that run in a UTS namespace of their own (`ProtectHostname=yes`):
 * CRIU cannot dump a nested UTS namespace ("Can't dump nested uts namespace
 * for PID"), so a booted container (logind always runs) could never be
 * checkpointed or moved live. In a container the hostname is the
 * container's own, so the protection guards nothing the container does not
 * own already: the image turns it off (docs/checkpoint.md).
 */
export const DEBIAN_SHARED_UTS_UNITS = [
  "systemd-logind.service",
  "systemd-localed.service",
  "systemd-timedated.service",
];
export const DEBIAN_SHARED_UTS_DROPIN = "lxt-checkpoint.conf";
const SHARED_UTS_TEXT = `# lxt: the container's own UTS namespace, so that CRIU can checkpoint it
# (CRIU cannot dump a nested UTS namespace; see lxt's docs/checkpoint.md).
[Service]
ProtectHostname=no
`;

/** What a container made from a Debian image gets: systemd's needs in a container (as LXC's common.conf). */
export const DEBIAN_CONFIG: Array<[string, string]> = [
  ["lxc.mount.auto", "proc:mixed sys:mixed cgroup:mixed"],
  ["lxc.autodev", "1"],
  // No /dev/ttyN, so no getty on tty1-6; console-getty runs on /dev/console.
  ["lxc.tty.max", "0"],
  ["lxc.pty.max", "1024"],
  ["lxc.environment", "container=lxc"],
  // systemd halts on SIGRTMIN+3 (systemd(1)); LXC's default SIGPWR only starts sigpwr.target.
  ["lxc.signal.halt", "SIGRTMIN+3"],
  // A veth on the default managed network, as busybox's: networkd gets a lease.
  ...netConfigLines(DEFAULT_CONTAINER_NETWORK),
];

const SUITE_RE = /^[a-z][a-z0-9-]{1,30}$/;
const VARIANTS = ["minbase", "buildd", "fakechroot", "standard"];

/** The Debian mirror of the host's apt sources (deb822 `.sources` or `sources.list`), or deb.debian.org. */
export function hostMirror(
  files: Array<{ name: string; text: string }> = aptSourceFiles(),
): string {
  for (const f of files) {
    const uris = f.name.endsWith(".sources")
      ? [...f.text.matchAll(/^URIs:\s*(.+)$/gm)].flatMap((m) => (m[1] ?? "").split(/\s+/))
      : [...f.text.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)].map((m) => m[1] ?? "");
    const hit = uris.find((u) => /^https?:\/\//.test(u) && !/security/.test(u));
    if (hit) return hit.replace(/\/+$/, "");
  }
  return "http://deb.debian.org/debian";
}

function aptSourceFiles(): Array<{ name: string; text: string }> {
  const out: Array<{ name: string; text: string }> = [];
  const read = (p: string) => {
    try {
      out.push({ name: p, text: readFileSync(p, "utf8") });
    } catch {}
  };
  read("/etc/apt/sources.list");
  let names: string[] = [];
  try {
    names = readdirSync("/etc/apt/sources.list.d").sort();
  } catch {}
  for (const n of names) if (/\.(list|sources)$/.test(n)) read(`/etc/apt/sources.list.d/${n}`);
  return out;
}

/** Checks and completes the options (`bookworm`, `minbase`, this host's arch and mirror by default). */
export function debianOptions(o: Partial<DebianOptions>): DebianOptions {
  const out: DebianOptions = {
    suite: o.suite ?? "bookworm",
    variant: o.variant ?? "minbase",
    arch: o.arch ?? ociArchitecture(),
    mirror: (o.mirror ?? hostMirror()).replace(/\/+$/, ""),
  };
  if (!SUITE_RE.test(out.suite)) throw new LxtError("usage", `debian: bad suite "${out.suite}"`);
  if (!VARIANTS.includes(out.variant)) {
    throw new LxtError(
      "usage",
      `debian: unknown variant "${out.variant}" (${VARIANTS.join(", ")})`,
    );
  }
  if (!/^[a-z0-9]+$/.test(out.arch)) throw new LxtError("usage", `debian: bad arch "${out.arch}"`);
  if (!/^(https?|file):\/\/\S+$/.test(out.mirror)) {
    throw new LxtError(
      "usage",
      `debian: bad mirror "${out.mirror}" (an http(s):// or file:// URL)`,
    );
  }
  return out;
}

/** Parses `create -t debian -- --suite S --variant V --arch A --mirror URL`. */
export function parseDebianArgs(args: readonly string[]): Partial<DebianOptions> {
  const out: Partial<DebianOptions> = {};
  const keys = ["suite", "variant", "arch", "mirror"] as const;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    const m = /^--(suite|variant|arch|mirror|release)(?:=(.*))?$/.exec(a);
    if (!m)
      throw new LxtError(
        "usage",
        `template debian: unknown argument "${a}" (--suite, --variant, --arch, --mirror)`,
      );
    const v = m[2] ?? args[++i];
    if (v === undefined) throw new LxtError("usage", `template debian: ${a} needs a value`);
    const k = m[1] === "release" ? "suite" : (m[1] as (typeof keys)[number]);
    out[k] = v;
  }
  return out;
}

/** The cache key: what the built tree depends on. */
export function cacheKey(o: DebianOptions): string {
  return `debian-${o.suite}-${o.variant}-${o.arch}-f${DEBIAN_IMAGE_FORMAT}`;
}

interface CacheManifest {
  key: string;
  sha256: string;
  suite: string;
  variant: string;
  arch: string;
  mirror: string;
  built: string;
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(file)
      .on("data", (d) => h.update(d as Buffer))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

/** The cached tarball when it exists and its sha256 matches its manifest, else undefined. */
export async function verifiedCache(dir: string, key: string): Promise<CacheManifest | undefined> {
  try {
    const m = JSON.parse(readFileSync(join(dir, `${key}.json`), "utf8")) as CacheManifest;
    if (m.key !== key) return undefined;
    return (await sha256File(join(dir, `${key}.tar.zst`))) === m.sha256 ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Runs debootstrap, reporting its `I: Retrieving/Unpacking ...` lines. */
function debootstrap(
  env: Env,
  o: DebianOptions,
  target: string,
  progress?: Progress,
): Promise<void> {
  const args = [
    `--variant=${o.variant}`,
    `--arch=${o.arch}`,
    `--include=${DEBIAN_INCLUDE.join(",")}`,
    o.suite,
    target,
    o.mirror,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("debootstrap", args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" },
    });
    let tail = "";
    const onData = (d: Buffer) => {
      const text = d.toString("utf8");
      tail = (tail + text).slice(-4096);
      const last = text.trim().split("\n").pop() ?? "";
      const m = /^I: (.*)$/.exec(last);
      if (m?.[1]) progress?.(`debootstrap: ${m[1]}`);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (err) =>
      reject(
        (err as NodeJS.ErrnoException).code === "ENOENT"
          ? new LxtError("host", "debootstrap: not installed (apt-get install debootstrap)", err)
          : wrapError("debootstrap", err),
      ),
    );
    child.on("close", (code) => {
      if (code === 0) return resolve();
      const lines = tail
        .trim()
        .split("\n")
        .filter((l) => /^[EW]:|rror|ailed/.test(l));
      const why = (lines.length ? lines : tail.trim().split("\n")).slice(-3).join("; ");
      const unreachable =
        /Failed getting release file|Couldn't download|couldn't resolve|Temporary failure/i.test(
          tail,
        );
      reject(
        new LxtError(
          unreachable ? "host" : "system",
          `debootstrap ${o.suite} from ${o.mirror}: ${unreachable ? "mirror unreachable: " : ""}${why || `exited ${code}`}`,
        ),
      );
    });
  });
}

/** The minimal configuration a container needs, written into a fresh tree. */
export async function configureTree(env: Env, root: string, o: DebianOptions): Promise<void> {
  const w = (p: string, text: string) => writeFileSync(join(root, p), text, { mode: 0o644 });
  w("etc/hostname", "debian\n");
  w(
    "etc/hosts",
    "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
  );
  // DHCP by systemd-networkd; names by systemd-resolved (its stub in resolv.conf).
  mkdirSync(join(root, "etc/systemd/network"), { recursive: true, mode: 0o755 });
  w(DEBIAN_NETWORKD_FILE, DEBIAN_NETWORKD_TEXT);
  await enableUnits(env, root, ["systemd-networkd.service", "systemd-resolved.service"]);
  // resolved's postinst keeps the build host's resolv.conf as a backup: not the container's.
  rmSync(join(root, "etc/.resolv.conf.systemd-resolved.bak"), { force: true });
  rmSync(join(root, "etc/resolv.conf"), { force: true });
  symlinkSync("../run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf"));
  w("etc/apt/sources.list", `deb ${o.mirror} ${o.suite} main\n`);
  // gettys only on the console: no tty1-6 in a container.
  const sys = join(root, "etc/systemd/system");
  mkdirSync(sys, { recursive: true });
  for (const unit of ["getty-static.service", "getty@tty1.service", "systemd-udevd.service"]) {
    const p = join(sys, unit);
    rmSync(p, { force: true });
    symlinkSync("/dev/null", p);
  }
  for (const unit of DEBIAN_SHARED_UTS_UNITS) {
    mkdirSync(join(sys, `${unit}.d`), { recursive: true, mode: 0o755 });
    w(`etc/systemd/system/${unit}.d/${DEBIAN_SHARED_UTS_DROPIN}`, SHARED_UTS_TEXT);
  }
  rmSync(join(root, "etc/machine-id"), { force: true });
  w("etc/machine-id", "");
  await rm(join(root, "var/cache/apt/archives"), { recursive: true, force: true });
  mkdirSync(join(root, "var/cache/apt/archives/partial"), { recursive: true });
}

/**
 * `systemctl enable` of `units` inside the tree (chroot, as their packages'
 * maintainer scripts would: the units' own [Install] sections decide the
 * links), then a check that each is linked.
 */
async function enableUnits(env: Env, root: string, units: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(
      "chroot",
      [root, "systemctl", "enable", ...units],
      { encoding: "utf8", env: { ...env, LC_ALL: "C", SYSTEMD_OFFLINE: "1" } },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        reject(
          new LxtError(
            "system",
            `debian: systemctl enable ${units.join(" ")} in ${root}: ${stderr.trim() || err.message}`,
            err,
          ),
        );
      },
    );
  });
  const links = (await readdir(join(root, "etc/systemd/system"), { recursive: true })).map(String);
  for (const unit of units) {
    const wanted = links.some((p) => p.endsWith(`.wants/${unit}`));
    if (!wanted) {
      throw new LxtError(
        "system",
        `debian: ${unit} is not enabled in ${root} after systemctl enable`,
      );
    }
  }
}

/** Builds the cached tarball of `o` (debootstrap, configure, tar), replacing a bad one. */
async function buildCache(
  ctx: Context,
  dir: string,
  o: DebianOptions,
  progress?: Progress,
): Promise<void> {
  const env = ctx.settings.hostEnv;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await cleanStaleStaging(ctx, dir);
  const key = cacheKey(o);
  const stage = await makeStaging(ctx, dir, "build");
  const work = stage.dir;
  try {
    const tree = join(work, "rootfs");
    await debootstrap(env, o, tree, progress);
    await configureTree(env, tree, o);
    progress?.(`packing ${key}`);
    const tmp = join(work, `${key}.tar.zst`);
    await runTar(
      "tar",
      [
        "-c",
        "-f",
        tmp,
        "--sort=name",
        ...TAR_KEEP,
        ...compressionArgs("zstd", "create"),
        "-C",
        tree,
        ".",
      ],
      { what: `pack ${key}`, env },
    );
    const manifest: CacheManifest = {
      key,
      sha256: await sha256File(tmp),
      ...o,
      built: new Date().toISOString(),
    };
    renameSync(tmp, join(dir, `${key}.tar.zst`));
    writeFileAtomic(join(dir, `${key}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
  } finally {
    await stage.release();
  }
}

/**
 * The Debian image of `opts` in the store of `lxcpath`: from the verified
 * cache, else built first. `rebuilt` says whether debootstrap ran.
 */
export async function buildDebianImage(
  ctx: Context,
  opts: Partial<DebianOptions>,
  extra: { aliases?: string[]; progress?: Progress } = {},
): Promise<{ meta: ImageMeta; existed: boolean; built: boolean; warnings: string[] }> {
  const o = debianOptions(opts);
  const dir = ctx.settings.imageCache;
  const key = cacheKey(o);
  let built = false;
  const warnings: string[] = [];
  let cached = await verifiedCache(dir, key);
  if (!cached) {
    if (existsSync(join(dir, `${key}.json`))) {
      warnings.push(`cached ${key} in ${dir} does not verify: rebuilt`);
    }
    try {
      await buildCache(ctx, dir, o, extra.progress);
    } catch (err) {
      throw explainNoSpace(
        wrapError(`image build debian ${o.suite}`, err),
        `image build ${key}`,
        dir,
      );
    }
    built = true;
    cached = await verifiedCache(dir, key);
    if (!cached)
      throw new LxtError(
        "system",
        `image build debian: ${dir}/${key}.tar.zst does not verify after building`,
      );
  }
  extra.progress?.(`importing ${key}`);
  const out = await importImage(ctx, [join(dir, `${key}.tar.zst`)], {
    aliases: extra.aliases ?? [`debian/${o.suite}/${o.variant}`],
    progress: extra.progress,
    describe: {
      description: `Debian ${o.suite} ${o.variant} ${o.arch} (debootstrap)`,
      source: `debootstrap:${o.mirror} ${o.suite}`,
      config: DEBIAN_CONFIG,
    },
  });
  return { ...out, built, warnings };
}
