import { type Command, Option } from "@commander-js/extra-typings";
import type { UiToken } from "../../api/types.js";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { resolveLxcpath } from "../context.js";
import { printJson, writeOut } from "../output.js";

/** `90`, `90s`, `10m`, `12h`, `2d` as seconds; `flag` names the option in errors. */
export function durationSeconds(flag: string, text: string): number {
  const unit: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  const n = m ? Number(m[1]) * (unit[m[2] ?? ""] ?? 0) : 0;
  if (!m || n <= 0 || n > 7 * 86400)
    throw new LxtError(
      "usage",
      `${flag} ${text}: expected a duration from 1s to 7d (e.g. 90s, 10m, 12h, 2d)`,
    );
  return n;
}

/**
 * Asks the state root's lxtd (over its unix socket) for a one-time login
 * token of the web UI; `https`: the URLs on its HTTPS listener, for a
 * remote browser, else on its loopback listener (which it opens if needed).
 */
export async function askUiToken(
  opts: { lxcpath?: string; socket?: string },
  what: string,
  body: { https?: boolean; expiry?: number },
): Promise<UiToken> {
  const { daemonRequest, daemonSocket } = await import("../lxtd-client.js");
  const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
  return (await daemonRequest(socket, what, "POST", "/ui/token", body)) as UiToken;
}

/** Prints a token's URLs (or the whole answer as JSON). */
export function printUiToken(t: UiToken, format: string | undefined, note: string): void {
  if (format === "json") {
    printJson(t);
    return;
  }
  writeOut(`${t.urls.join("\n")}\n`);
  process.stderr.write(`${note} (one login, until ${t.expires_at})\n`);
}

export const socketOption = () =>
  new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)");

export function register(program: Command): void {
  program
    .command("ui")
    .description(
      "open lxtd's web UI: prints a URL with a one-time login token (the daemon must run)",
    )
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .option("--https", "the URL on lxtd's HTTPS listener instead of its loopback one")
    .option("--expiry <duration>", "how long the token is good for (default 10m)")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"] as const))
    .action(async (opts) => {
      const t = await askUiToken(opts, "ui", {
        https: opts.https === true,
        ...(opts.expiry ? { expiry: durationSeconds("--expiry", opts.expiry) } : {}),
      });
      printUiToken(t, opts.format, "lxt ui: open this URL in a browser on this host");
    });
}
