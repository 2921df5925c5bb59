import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { type Command, Option } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { resolveLxcpath } from "../context.js";
import { printJson, printTable, writeOut } from "../output.js";
import { askUiToken, durationSeconds, printUiToken } from "./ui.js";

interface Trusted {
  name: string;
  type: string;
  fingerprint: string;
  certificate: string;
}

/** The state root's lxtd socket (`--socket` overrides) and the verb's name for errors. */
async function client(opts: { lxcpath?: string; socket?: string }, what: string) {
  const { daemonRequest, daemonSocket } = await import("../lxtd-client.js");
  const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
  return (method: string, path: string, body?: unknown) =>
    daemonRequest(socket, what, method, path, body);
}

const socketOption = () =>
  new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)");

export function register(program: Command): void {
  const trust = program
    .command("trust")
    .description("lxtd's trust store: the client certificates trusted over HTTPS (needs lxtd)");

  trust
    .command("add")
    .description("trust a client certificate (PEM file) for lxtd's HTTPS listener")
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .option("--name <name>", "name of the entry (default: the certificate's file name)")
    .argument("<file>", "the client's certificate, PEM (`-` for stdin)")
    .action(async (file, opts) => {
      let der: Buffer;
      try {
        der = Buffer.from(new X509Certificate(readFileSync(file === "-" ? 0 : file)).raw);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new LxtError(
          e.code === "ENOENT" ? "not-found" : "usage",
          `trust add: ${file}: ${e.code === "ENOENT" ? "no such file" : `not a PEM certificate (${e.message})`}`,
          err,
        );
      }
      const call = await client(opts, "trust add");
      const name = opts.name ?? (file === "-" ? "" : basename(file).replace(/\.(crt|pem)$/, ""));
      await call("POST", "/1.0/certificates", {
        type: "client",
        name,
        certificate: der.toString("base64"),
      });
      writeOut(
        `trusted ${createHash("sha256").update(der).digest("hex")}${name ? ` (${name})` : ""}\n`,
      );
    });

  trust
    .command("list")
    .alias("ls")
    .description("list the trusted client certificates")
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"] as const))
    .action(async (opts) => {
      const call = await client(opts, "trust list");
      const list = (await call("GET", "/1.0/certificates?recursion=1")) as Trusted[];
      if (opts.format === "json") return printJson(list);
      printTable(
        ["NAME", "TYPE", "FINGERPRINT"],
        list.map((c) => [c.name, c.type, c.fingerprint]),
      );
    });

  trust
    .command("remove")
    .alias("rm")
    .description("stop trusting a certificate (its fingerprint, or a unique prefix of it)")
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .argument("<fingerprint>", "the certificate's sha256 fingerprint (a unique prefix will do)")
    .action(async (fp, opts) => {
      if (!/^[0-9a-fA-F]+$/.test(fp))
        throw new LxtError("usage", `trust remove: "${fp}" is not a fingerprint (hex digits)`);
      const call = await client(opts, "trust remove");
      await call("DELETE", `/1.0/certificates/${fp.toLowerCase()}`);
      writeOut(`removed ${fp}\n`);
    });

  trust
    .command("token")
    .description(
      "a one-time token with which a client joins the trust store (`lxt remote add --token`, `lxc remote add`)",
    )
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .argument("<name>", "the name the client's certificate is trusted under")
    .action(async (name, opts) => {
      const call = await client(opts, "trust token");
      const op = (await call("POST", "/1.0/certificates", {
        type: "client",
        name,
        token: true,
      })) as { metadata?: { secret?: string; fingerprint?: string; addresses?: string[] } };
      const m = op?.metadata ?? {};
      // The stock client's encoding (LXD's api.CertificateAddToken), so either client takes it.
      const token = {
        client_name: name,
        fingerprint: m.fingerprint,
        addresses: m.addresses,
        secret: m.secret,
      };
      writeOut(`${Buffer.from(JSON.stringify(token)).toString("base64")}\n`);
    });

  trust
    .command("ui-token")
    .description(
      "a one-time login token of lxtd's web UI for a remote browser (URLs on its HTTPS listener)",
    )
    .addOption(lxcpathOption())
    .addOption(socketOption())
    .option("--expiry <duration>", "how long the token is good for (default 1h)", "1h")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"] as const))
    .action(async (opts) => {
      const t = await askUiToken(opts, "trust ui-token", {
        https: true,
        expiry: durationSeconds("--expiry", opts.expiry),
      });
      printUiToken(
        t,
        opts.format,
        "lxt trust ui-token: open one of these URLs in the remote browser",
      );
    });
}
