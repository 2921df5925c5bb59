import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, target } from "../common.js";
import { cliCaller } from "../context.js";
import { writeOut } from "../output.js";

/** `config get NAME KEY`, `config set NAME KEY VALUE` and `config unset NAME KEY`: a container's config file, edited in place. */
export function register(program: Command): void {
  const config = program.command("config").description("read or change a container's config");
  config
    .command("get")
    .description("print every value of KEY in the container's config file")
    .addOption(lxcpathOption())
    .argument("<name>")
    .argument("<key>")
    .action(async (name, key, opts) => {
      const { getConfigKey } = await import("../../container/resources.js");
      const values = getConfigKey(target(opts, name).paths, key);
      if (values.length > 0) writeOut(`${values.join("\n")}\n`);
    });
  config
    .command("set")
    .description(
      "set KEY to VALUE (checked first; an empty VALUE unsets the key); limits apply at once to a running container",
    )
    .addOption(lxcpathOption())
    .argument("<name>")
    .argument("<key>")
    .argument("<value>")
    .action(async (name, key, value, opts) => {
      const { setConfigKey } = await import("../../container/resources.js");
      const { ctx, paths } = target(opts, name);
      const result = await setConfigKey(ctx, paths, key, value, { caller: cliCaller() });
      for (const w of result.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
    });
  config
    .command("unset")
    .description(
      "remove KEY from the container's config; a limit on a running container goes back to its default at once",
    )
    .addOption(lxcpathOption())
    .argument("<name>")
    .argument("<key>")
    .action(async (name, key, opts) => {
      const { unsetConfigKey } = await import("../../container/resources.js");
      const { ctx, paths } = target(opts, name);
      const result = await unsetConfigKey(ctx, paths, key, cliCaller());
      for (const w of result.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
    });
  config.commands.forEach((c) => {
    c.exitOverride();
  });
}
