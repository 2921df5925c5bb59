/**
 * lxtd's flags: the one definition that parses its command line and that
 * its man page, lxtd(8), is made from (scripts/man).
 */
import { Command, Option } from "@commander-js/extra-typings";
import { DEFAULT_UI_ADDRESS } from "../api/ui-listener.js";
import { VERSION_LINE } from "../core/version.js";

/** Container monitors and lock helpers lxtd keeps made ahead of demand, of each. */
export const DEFAULT_HELPER_POOL = 2;

/** A cluster member's lease TTL (seconds) unless `--cluster-ttl` says otherwise. */
export const DEFAULT_CLUSTER_TTL = 10;

/** The `lxtd` command: its flags, parsed by `lxtd.ts`. */
export function lxtdProgram() {
  return new Command("lxtd")
    .description("the LXD REST API over lxt (the stock `lxc` client drives it)")
    .version(`lxtd ${VERSION_LINE}`, "--version")
    .option("-P, --lxcpath <path>", "state root (default: $LXT_PATH or /var/lib/lxt)")
    .option("--socket <path>", "unix socket (default: STATE_ROOT/.lxtd/unix.socket)")
    .option("--group <group>", "group owning the unix socket (default: lxd when it exists)")
    .option("--https <address:port>", "also listen on HTTPS (clients trusted by certificate)")
    .option(
      "--ui <address:port>",
      `the web UI's loopback HTTP listener, opened when \`lxt ui\` first asks (default ${DEFAULT_UI_ADDRESS}: a free port)`,
    )
    .option("--foreground", "run in the foreground (tests, systemd); else it detaches")
    .option(
      "--log-file <path>",
      "structured log (JSON lines) to this file (default: stderr in the foreground, STATE_ROOT/.lxtd/lxtd.log detached)",
    )
    .option("--log-level <level>", "trace, debug, info, warn or error", "info")
    .addOption(new Option("--ready-fd <fd>", "tell the detaching parent on this fd").hideHelp())
    .option(
      "--request-timeout <seconds>",
      "a client must send a whole request (headers and body) within this (default 120)",
    )
    .option(
      "--ws-heartbeat <seconds>",
      "ping websockets this often; a peer missing a pong is dropped (default 30)",
    )
    .option(
      "--helper-pool <n>",
      "container monitors and lock helpers kept made ahead of demand, N of each (0: none)",
      String(DEFAULT_HELPER_POOL),
    )
    .option(
      "--shared-busybox",
      "busybox instances are overlays over one tree shared by all of them (a dir state root with overlayfs and idmapped mounts; else each gets its own tree)",
    )
    .option(
      "--cluster <urls>",
      "join the cluster on these etcd endpoints (comma-separated http(s)://HOST:PORT); needs --member and --address",
    )
    .option("--member <name>", "this member's name in the cluster (unique)")
    .option(
      "--address <url>",
      "the https://HOST:PORT other members and clients reach this member at (default for --https: its HOST:PORT)",
    )
    .option(
      "--cluster-token <token>",
      "join with this token (from `lxt cluster add NAME` on a member): this member's certificate joins the members' trust",
    )
    .option(
      "--cluster-ttl <seconds>",
      `a member silent this long is offline; heartbeats come at a third of it (default ${DEFAULT_CLUSTER_TTL})`,
    );
}
