import { X509Certificate } from "node:crypto";
import { type Command, Option } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption } from "../common.js";
import { resolveLxcpath } from "../context.js";
import { printJson, printTable, writeOut } from "../output.js";

/** `lxt remote add/list/remove`: other lxtd hosts, for `lxt move/copy NAME REMOTE:`. */
export function register(program: Command): void {
  const remote = program
    .command("remote")
    .description("other lxtd hosts this state root moves and copies containers to (HTTPS)");

  remote
    .command("add")
    .description(
      "add a remote lxtd: pin its server certificate and have it trust this state root's client certificate",
    )
    .addOption(lxcpathOption())
    .option("--token <token>", "a trust token from the remote (`lxt trust token NAME` there)")
    .option(
      "--accept-certificate",
      "pin whatever certificate the remote presents (it must already trust this client)",
    )
    .argument("<name>", "the remote's name here")
    .argument("<url>", "https://HOST[:PORT] (port 8443 when none)")
    .action(async (name, url, opts) => {
      const { addRemote } = await import("../remote-add.js");
      const r = await addRemote(resolveLxcpath(opts.lxcpath), name, url, {
        token: opts.token,
        acceptCertificate: !!opts.acceptCertificate,
      });
      writeOut(`added remote ${r.name} (${r.url}, certificate ${r.fingerprint.slice(0, 12)})\n`);
    });

  remote
    .command("list")
    .alias("ls")
    .description("list the remotes")
    .addOption(lxcpathOption())
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"] as const))
    .action(async (opts) => {
      const { fingerprintOf, readRemotes } = await import("../remote.js");
      const list = [...readRemotes(resolveLxcpath(opts.lxcpath)).values()].map((r) => ({
        name: r.name,
        url: r.url,
        fingerprint: fingerprintOf(Buffer.from(new X509Certificate(r.certificate).raw)),
      }));
      if (opts.format === "json") return printJson(list);
      printTable(
        ["NAME", "URL", "FINGERPRINT"],
        list.map((r) => [r.name, r.url, r.fingerprint.slice(0, 12)]),
      );
    });

  remote
    .command("remove")
    .alias("rm")
    .description("forget a remote (the remote itself still trusts this client)")
    .addOption(lxcpathOption())
    .argument("<name>")
    .action(async (name, opts) => {
      const { readRemotes, writeRemotes } = await import("../remote.js");
      const lxcpath = resolveLxcpath(opts.lxcpath);
      const all = readRemotes(lxcpath);
      if (!all.delete(name)) throw new LxtError("not-found", `remote remove: no remote "${name}"`);
      writeRemotes(lxcpath, all);
      writeOut(`removed remote ${name}\n`);
    });
}
