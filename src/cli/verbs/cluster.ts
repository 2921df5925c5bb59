import { type Command, Option } from "@commander-js/extra-typings";
import type { MemberView } from "../../api/types.js";
import { lxcpathOption } from "../common.js";
import { resolveLxcpath } from "../context.js";
import { humanBytes, printJson, printTable } from "../output.js";

export function register(program: Command): void {
  const cluster = program
    .command("cluster")
    .description("the cluster this state root's lxtd is a member of (lxtd --cluster)");

  cluster
    .command("add")
    .argument("<name>", "the new member's name (its --member)")
    .description(
      "a join token for a new member: start it with lxtd --cluster-token TOKEN (asks the local lxtd)",
    )
    .addOption(lxcpathOption())
    .addOption(
      new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)"),
    )
    .action(async (name, opts) => {
      const { daemonRequest, daemonSocket } = await import("../lxtd-client.js");
      const { tokenOfMetadata } = await import("../../api/join-token.js");
      const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
      const op = (await daemonRequest(socket, "cluster add", "POST", "/1.0/cluster/members", {
        server_name: name,
      })) as { metadata?: Record<string, unknown> };
      // LXD's words (`lxc cluster add`).
      process.stdout.write(`Member ${name} join token:\n${tokenOfMetadata(op.metadata ?? {})}\n`);
    });

  cluster
    .command("list")
    .alias("ls")
    .description("every member: state, load and last heartbeat (asks the local lxtd)")
    .addOption(lxcpathOption())
    .addOption(
      new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)"),
    )
    .addOption(new Option("--format <format>", "output format").choices(["table", "json"] as const))
    .action(async (opts) => {
      const { daemonRequest, daemonSocket } = await import("../lxtd-client.js");
      const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
      const members = (await daemonRequest(
        socket,
        "cluster list",
        "GET",
        "/1.0/cluster/heartbeats",
      )) as MemberView[];
      if (opts.format === "json") return printJson(members);
      printTable(
        ["NAME", "URL", "STATE", "CONTAINERS", "CPU", "MEMORY FREE", "LAST HEARTBEAT"],
        members.map((m) => [
          m.name,
          m.address,
          !m.online ? "OFFLINE" : m.evacuated ? "EVACUATED" : "ONLINE",
          `${m.load.containers} (${m.load.running} running)`,
          `${m.load.load1.toFixed(2)}/${m.load.cpus}`,
          `${humanBytes(m.load.memory_free)} of ${humanBytes(m.load.memory_total)}`,
          m.heartbeat,
        ]),
      );
    });

  cluster
    .command("remove")
    .alias("rm")
    .argument("<member>", "the member's name")
    .description(
      "removes MEMBER from the cluster for good: refused while it holds containers (evacuate it first), is offline or is the only member (asks the local lxtd)",
    )
    .addOption(lxcpathOption())
    .addOption(
      new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)"),
    )
    .option("-f, --force", "remove an offline member too, and drop the containers it still holds")
    .action(async (member, opts) => {
      const { daemonRequest, daemonSocket } = await import("../lxtd-client.js");
      const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
      const query = opts.force ? "?force=1" : "";
      await daemonRequest(
        socket,
        `cluster remove ${member}`,
        "DELETE",
        `/1.0/cluster/members/${encodeURIComponent(member)}${query}`,
      );
      // LXD's words (`lxc cluster remove`).
      process.stdout.write(`Member ${member} removed\n`);
    });

  for (const [action, description] of [
    ["evacuate", "moves MEMBER's containers to the other online members; it takes no placements"],
    [
      "restore",
      "brings back the containers an evacuate of MEMBER moved, and starts those that ran",
    ],
  ] as const) {
    cluster
      .command(action)
      .argument("<member>", "the member's name")
      .description(`${description} (asks the local lxtd)`)
      .addOption(lxcpathOption())
      .addOption(
        new Option("--socket <path>", "lxtd's unix socket (default: STATE_ROOT/.lxtd/unix.socket)"),
      )
      .action(async (member, opts) => {
        const { daemonOperation, daemonSocket } = await import("../lxtd-client.js");
        const socket = opts.socket ?? daemonSocket(resolveLxcpath(opts.lxcpath));
        await daemonOperation(
          socket,
          `cluster ${action} ${member}`,
          "POST",
          `/1.0/cluster/members/${encodeURIComponent(member)}/state`,
          { action },
          `the ${action} failed`,
        );
      });
  }
}
