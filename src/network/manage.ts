/**
 * Managed networks: a bridge with the gateway address, lxt's own nft table,
 * and one supervised dnsmasq. Definitions live in `<lxcpath>/.networks/`
 * (one JSON file each, written atomically, last: a failed create leaves no
 * file); runtime files in `<rundir>/<root-id>/.networks/NAME/`. Host
 * commands go through one CommandRunner.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ValueError } from "../config/values.js";
import { type Context, runtimeRoot } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomic } from "../host/atomic.js";
import { inHostNetns } from "../host/netinfo.js";
import { readStartTime } from "../host/proc.js";
import type { CommandRunner } from "../host/runner.js";
import { activeForwards, isLoopback, parseDhcpHost } from "./forward.js";
import {
  type Cidr,
  contains,
  defaultDhcpRange,
  formatCidr,
  ipToInt,
  overlaps,
  parseCidr,
  parseDhcpRange,
  pickSubnet,
} from "./ipv4.js";
import { planIpv6 } from "./ipv6.js";
import { bridgePorts, hostRoutes, type LinkKind, linkKind } from "./links.js";
import { withNetworkLock } from "./lock.js";
import { listNetworkNames, networksDir } from "./names.js";
import {
  bridgeMac,
  type NetworkDef,
  type NetworkRunPaths,
  nftTable,
  renderDnsmasqConf,
  renderNftRuleset,
  subnetOf,
} from "./render.js";
import { requireNetworkTools } from "./tools.js";

/** The network `lxc.net.N.link = lxtbr0` creates on first use. */
export const DEFAULT_NETWORK = "lxtbr0";

/** What `network create` is asked for. */
export interface NetworkOptions {
  /** `A.B.C.D/N` (the gateway's address) or `auto`. */
  ipv4?: string;
  nat?: boolean;
  dhcpRange?: string;
  domain?: string;
  dnsUpstream?: boolean;
  /** `ADDR/64` (the gateway's), `auto` (a random ULA /64) or `none` (the default). */
  ipv6?: string;
  /** NAT66 when IPv6 is on (default true). */
  nat6?: boolean;
}

export function checkNetworkName(name: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,14}$/.test(name)) {
    throw new LxtError(
      "usage",
      `network ${name}: a network name is 1-15 letters, digits, '-' or '_', starting with a letter (it names the bridge)`,
    );
  }
}

function defDir(ctx: Pick<Context, "lxcpath">): string {
  return networksDir(ctx.lxcpath);
}

function defFile(ctx: Context, name: string): string {
  return join(defDir(ctx), `${name}.json`);
}

export function networkRunPaths(ctx: Context, name: string): NetworkRunPaths {
  const dir = join(runtimeRoot(ctx.runDir, ctx.lxcpath), ".networks", name);
  return {
    dir,
    conf: join(dir, "dnsmasq.conf"),
    pidFile: join(dir, "dnsmasq.pid"),
    leases: join(dir, "leases"),
    dhcpHosts: join(dir, "dhcp-hosts"),
    dnsHosts: join(dir, "dns-hosts"),
    ruleset: join(dir, "ruleset.nft"),
  };
}

export function loadNetwork(ctx: Context, name: string): NetworkDef | undefined {
  try {
    return JSON.parse(readFileSync(defFile(ctx, name), "utf8")) as NetworkDef;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new LxtError("system", `network ${name}: read ${defFile(ctx, name)}`, err);
  }
}

export function listNetworkDefs(ctx: Context): NetworkDef[] {
  return listNetworkNames(ctx.lxcpath).flatMap((name) => {
    const d = loadNetwork(ctx, name);
    return d ? [d] : [];
  });
}

/** Resolves options into a definition, refusing subnets that overlap a route or another network. */
export async function planNetwork(
  ctx: Context,
  name: string,
  opts: NetworkOptions,
  runner: CommandRunner,
): Promise<NetworkDef> {
  checkNetworkName(name);
  const used = [
    ...(await hostRoutes(runner, name)),
    ...listNetworkDefs(ctx)
      .filter((d) => d.name !== name)
      .map(subnetOf),
  ];
  let subnet: Cidr;
  try {
    if (!opts.ipv4 || opts.ipv4 === "auto") {
      const picked = pickSubnet(used);
      if (!picked) throw new ValueError("no unused 10.x.y.0/24 subnet is left");
      subnet = picked;
    } else {
      subnet = parseCidr(opts.ipv4);
      if (subnet.prefix > 30 || subnet.prefix < 8)
        throw new ValueError(`${opts.ipv4}: the prefix must be between /8 and /30`);
      if (
        subnet.address === subnet.network ||
        subnet.address === subnet.network + 2 ** (32 - subnet.prefix) - 1
      )
        throw new ValueError(
          `${opts.ipv4}: give the gateway's address, such as 10.0.3.1/24, not the network's`,
        );
      const clash = used.find((u) => overlaps(u, subnet));
      if (clash) {
        throw new LxtError(
          "exists",
          `network ${name}: subnet ${formatCidr(subnet, "network")} overlaps ${formatCidr(clash, "network")}, already routed on this host`,
        );
      }
    }
    const dhcpRange = opts.dhcpRange
      ? parseDhcpRange(opts.dhcpRange, subnet)
      : defaultDhcpRange(subnet);
    const domain = opts.domain ?? "lxt";
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(domain))
      throw new ValueError(`invalid domain "${domain}"`);
    const ipv6 = await planIpv6(name, opts.ipv6, runner);
    return {
      name,
      ipv4: formatCidr(subnet),
      nat: opts.nat ?? true,
      dhcpRange,
      domain,
      dnsUpstream: opts.dnsUpstream ?? false,
      ...(ipv6 ? { ipv6, nat6: opts.nat6 ?? true } : {}),
    };
  } catch (err) {
    if (err instanceof ValueError) throw new LxtError("usage", `network ${name}: ${err.message}`);
    throw err;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of this network's dnsmasq when it is alive (its command line names our config). */
export function dnsmasqPid(run: NetworkRunPaths): number | undefined {
  const pid = readPid(run.pidFile);
  if (!pid) return undefined;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmd.includes(run.conf) ? pid : undefined;
  } catch {
    return undefined;
  }
}

const FORWARD = "/proc/sys/net/ipv4/ip_forward";
const FORWARD6 = "/proc/sys/net/ipv6/conf/all/forwarding";
/** Marker files of the forwarding switches a network turned on (restored when the last such network goes). */
const FORWARD_MARKS = [
  [FORWARD, "forwarding-enabled"],
  [FORWARD6, "forwarding6-enabled"],
] as const;

/**
 * Re-renders the network's nft table with the forwards of its running
 * containers and applies it in one transaction; turns on what those need:
 * ip_forward for NAT and for forwards other hosts reach, IPv6 forwarding for
 * NAT66, route_localnet on the bridge only for forwards the host itself
 * reaches through loopback. Each switch lxt turns on is recorded.
 */
export async function applyRuleset(
  ctx: Context,
  def: NetworkDef,
  runner: CommandRunner,
): Promise<void> {
  const run = networkRunPaths(ctx, def.name);
  const forwards = activeForwards(run);
  writeFileAtomic(run.ruleset, renderNftRuleset(def, forwards), 0o600, false);
  await runner.run("nft", ["-f", run.ruleset]);
  const need4 = def.nat || forwards.some((f) => !f.listen || !isLoopback(f.listen));
  const need6 = !!def.ipv6 && !!def.nat6;
  for (const [file, mark, need] of [
    [FORWARD, "forwarding-enabled", need4],
    [FORWARD6, "forwarding6-enabled", need6],
  ] as const) {
    if (!need || !existsSync(file) || readFileSync(file, "utf8").trim() !== "0") continue;
    writeFileSync(file, "1\n");
    writeFileAtomic(join(run.dir, mark), "1\n", 0o644, false);
  }
  const localnet = `/proc/sys/net/ipv4/conf/${def.name}/route_localnet`;
  const wantLocalnet = forwards.some((f) => !f.listen || isLoopback(f.listen)) ? "1" : "0";
  if (existsSync(localnet) && readFileSync(localnet, "utf8").trim() !== wantLocalnet)
    writeFileSync(localnet, `${wantLocalnet}\n`);
}

/**
 * Brings a network's host side up, idempotently: bridge with its address,
 * the nft table (replaced in one transaction), dnsmasq (started if dead).
 * Undo steps of what this call created go on `revert`. `known`: the
 * bridge's kind as the caller already knows it (else it is listed).
 */
export async function upNetwork(
  ctx: Context,
  def: NetworkDef,
  runner: CommandRunner,
  revert: Reverter,
  known?: LinkKind,
): Promise<void> {
  requireNetworkTools(`network ${def.name}`, ctx.settings.hostEnv.PATH ?? "");
  const run = networkRunPaths(ctx, def.name);
  const kind = known ?? (await linkKind(def.name, runner));
  if (kind === "other") {
    throw new LxtError(
      "exists",
      `network ${def.name}: a link named ${def.name} exists and is not a bridge`,
    );
  }
  // Tests and benchmarks set LXT_NO_HOST_NETWORK=1: they may make networks
  // only inside namespaces of their own, never on the host itself.
  if (kind === "missing" && ctx.settings.noHostNetwork && inHostNetns()) {
    throw new LxtError(
      "system",
      `network ${def.name}: not created in the host's network namespace (LXT_NO_HOST_NETWORK=1): give the container --network empty, or run in a namespace of its own`,
    );
  }
  for (const d of [run.dir, run.dhcpHosts, run.dnsHosts])
    mkdirSync(d, { recursive: true, mode: 0o755 });
  if (kind === "missing") {
    await runner.run("ip", [
      "link",
      "add",
      "name",
      def.name,
      "address",
      bridgeMac(def.name),
      "type",
      "bridge",
    ]);
    revert.add(`bridge ${def.name}`, () =>
      runner.run("ip", ["link", "del", def.name]).then(() => {}),
    );
    await runner.run("ip", ["addr", "add", def.ipv4, "dev", def.name]);
    if (def.ipv6) await runner.run("ip", ["-6", "addr", "add", def.ipv6, "dev", def.name, "nodad"]);
    await runner.run("ip", ["link", "set", "dev", def.name, "up"]);
  }
  await applyRuleset(ctx, def, runner);
  // A table is new when its bridge is: a later start only replaces it.
  if (kind === "missing") {
    revert.add(`nft table ${nftTable(def)}`, () =>
      runner.run("nft", ["delete", "table", "inet", nftTable(def)]).then(() => {}),
    );
  }
  if (!dnsmasqPid(run)) {
    writeFileAtomic(run.conf, renderDnsmasqConf(def, run), 0o644, false);
    rmSync(run.pidFile, { force: true });
    await runner.run("dnsmasq", [`--conf-file=${run.conf}`]);
    revert.add(`dnsmasq of ${def.name}`, () => stopDnsmasq(ctx, run));
  }
}

async function stopDnsmasq(ctx: Context, run: NetworkRunPaths): Promise<void> {
  const pid = dnsmasqPid(run);
  if (!pid) return;
  const start = readStartTime(pid);
  ctx.host.kill(pid, "SIGTERM");
  for (let i = 0; i < 100; i++) {
    if (readStartTime(pid) !== start) return;
    await ctx.host.clock.sleep(20);
  }
  ctx.host.kill(pid, "SIGKILL");
}

/** Creates and starts a network, under its lock; all or nothing. */
export async function createNetwork(
  ctx: Context,
  name: string,
  opts: NetworkOptions,
  runner: CommandRunner,
): Promise<NetworkDef> {
  checkNetworkName(name);
  return withNetworkLock(ctx, name, () => makeNetwork(ctx, name, opts, runner));
}

/** `createNetwork` with the network's lock held. */
async function makeNetwork(
  ctx: Context,
  name: string,
  opts: NetworkOptions,
  runner: CommandRunner,
): Promise<NetworkDef> {
  if (loadNetwork(ctx, name)) throw new LxtError("exists", `network ${name}: already exists`);
  requireNetworkTools(`network create ${name}`, ctx.settings.hostEnv.PATH ?? "");
  const kind = await linkKind(name, runner);
  if (kind !== "missing") {
    throw new LxtError(
      "exists",
      `network ${name}: a link named ${name} already exists${kind === "other" ? " and is not a bridge" : ""}`,
    );
  }
  const def = await planNetwork(ctx, name, opts, runner);
  const revert = new Reverter();
  try {
    revert.add("runtime files", () => removeRunDir(networkRunPaths(ctx, name)));
    await upNetwork(ctx, def, runner, revert);
    saveNetwork(ctx, def);
    return def;
  } catch (err) {
    await revert.revert();
    throw err instanceof LxtError ? err.wrap(`network create ${name}`) : err;
  }
}

/**
 * The network a container's `lxc.net.N.link` names, up and running: a
 * stored network, or the default one created on first use. Undefined when
 * the link is not a managed network (a bridge of the host's own). Call with
 * the network's lock held (`withNetworkLock`): two starts on one new
 * network must not both make it.
 */
export async function ensureNetwork(
  ctx: Context,
  name: string,
  runner: CommandRunner,
  revert: Reverter,
  known?: LinkKind,
): Promise<NetworkDef | undefined> {
  const def = loadNetwork(ctx, name);
  if (def) {
    await upNetwork(ctx, def, runner, revert, known);
    return def;
  }
  if (name !== DEFAULT_NETWORK || (known ?? (await linkKind(name, runner))) !== "missing")
    return undefined;
  return makeNetwork(ctx, name, {}, runner);
}

/** Writes a network's definition (atomically). */
export function saveNetwork(ctx: Context, def: NetworkDef): void {
  mkdirSync(defDir(ctx), { recursive: true, mode: 0o755 });
  writeFileAtomic(defFile(ctx, def.name), `${JSON.stringify(def, null, 2)}\n`);
}

/** Removes a network's runtime directory, and `.networks` with it when no other network is left there. */
function removeRunDir(run: NetworkRunPaths): void {
  rmSync(run.dir, { recursive: true, force: true });
  try {
    rmdirSync(dirname(run.dir));
  } catch {}
}

/**
 * Re-applies a network after its definition changed: nft table replaced,
 * dnsmasq restarted with the new config. Call with the network's lock held.
 */
export async function restartNetwork(
  ctx: Context,
  def: NetworkDef,
  runner: CommandRunner,
): Promise<void> {
  await stopDnsmasq(ctx, networkRunPaths(ctx, def.name));
  await upNetwork(ctx, def, runner, new Reverter());
}

/** Deletes a network, under its lock: refuses while interfaces use its bridge; leaves nothing behind. */
export async function deleteNetwork(
  ctx: Context,
  name: string,
  runner: CommandRunner,
): Promise<void> {
  checkNetworkName(name);
  return withNetworkLock(ctx, name, () => removeNetwork(ctx, name, runner));
}

/**
 * Takes a network down: bridge, nft table and dnsmasq, as a reboot does; its
 * definition stays, and the next start of a container on it brings it up
 * again (the Debian package does this to every network on removal).
 */
export async function downNetwork(
  ctx: Context,
  name: string,
  runner: CommandRunner,
): Promise<void> {
  checkNetworkName(name);
  return withNetworkLock(ctx, name, () => takeDown(ctx, name, runner, "down"));
}

async function removeNetwork(ctx: Context, name: string, runner: CommandRunner): Promise<void> {
  await takeDown(ctx, name, runner, "delete");
  rmSync(defFile(ctx, name), { force: true });
}

async function takeDown(
  ctx: Context,
  name: string,
  runner: CommandRunner,
  verb: string,
): Promise<void> {
  const def = loadNetwork(ctx, name);
  if (!def) throw new LxtError("not-found", `network ${verb} ${name}: no such network`);
  // A stopped container's veth goes with its network namespace, which the
  // kernel tears down asynchronously: give it a moment.
  for (let i = 0; i < 100 && (await bridgePorts(name, runner)).length > 0; i++)
    await new Promise((r) => setTimeout(r, 20));
  const ports = await bridgePorts(name, runner);
  if (ports.length > 0) {
    throw new LxtError(
      "state",
      `network ${verb} ${name}: in use by ${ports.join(", ")} (stop those containers first)`,
    );
  }
  const run = networkRunPaths(ctx, name);
  await stopDnsmasq(ctx, run);
  await runner.run("nft", ["delete", "table", "inet", nftTable(def)]).catch(() => {});
  // Networks made before the table became `inet` had `table ip lxt-NAME`.
  await runner.run("nft", ["delete", "table", "ip", nftTable(def)]).catch(() => {});
  if ((await linkKind(name, runner)) === "bridge") await runner.run("ip", ["link", "del", name]);
  for (const [file, mark] of FORWARD_MARKS) {
    if (!existsSync(join(run.dir, mark))) continue;
    const others = listNetworkDefs(ctx).filter(
      (d) => d.name !== name && existsSync(join(networkRunPaths(ctx, d.name).dir, mark)),
    );
    if (others.length === 0) writeFileSync(file, "0\n");
  }
  removeRunDir(run);
}

/**
 * Registers a container's NIC with the network's dnsmasq: a DHCP
 * reservation of its name, or a DNS record for a static address. Call with
 * the network's lock held.
 */
export function registerHost(
  ctx: Context,
  def: NetworkDef,
  entry: { key: string; hwaddr: string; hostname: string; ipv4?: string },
): void {
  const run = networkRunPaths(ctx, def.name);
  const fqdn = `${entry.hostname}.${def.domain}`;
  const file = join(run.dhcpHosts, entry.key);
  // A static address in the subnet is also a reservation (DHCP never hands it
  // to another MAC, and the container's DHCP client gets the same); an address
  // pinned for port forwards stays while the MAC does.
  let pinned: string | undefined;
  try {
    const old = parseDhcpHost(readFileSync(file, "utf8"));
    if (old.hwaddr === entry.hwaddr && old.ipv4 && contains(subnetOf(def), ipToInt(old.ipv4)))
      pinned = old.ipv4;
  } catch {}
  const ip = entry.ipv4 ?? pinned;
  writeFileAtomic(file, `${entry.hwaddr},${ip ? `${ip},` : ""}${entry.hostname}\n`, 0o644, false);
  const dns = join(run.dnsHosts, entry.key);
  if (entry.ipv4) writeFileAtomic(dns, `${entry.ipv4} ${fqdn} ${entry.hostname}\n`, 0o644, false);
  else rmSync(dns, { force: true });
}
