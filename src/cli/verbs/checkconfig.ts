import { type Command, Option } from "@commander-js/extra-typings";
import { cliContext } from "../context.js";
import { printJson, writeOut } from "../output.js";

export function register(program: Command): void {
  program
    .command("checkconfig")
    .description("show what this host supports for containers (as lxc-checkconfig)")
    .addOption(new Option("--format <format>", "output format").choices(["text", "json"] as const))
    .action(async (opts) => {
      const { checkConfig } = await import("../../container/checkconfig.js");
      const items = await checkConfig(cliContext());
      if (opts.format === "json") {
        printJson(items);
        return;
      }
      const lines: string[] = [];
      let section = "";
      for (const it of items) {
        if (it.section !== section) {
          section = it.section;
          lines.push(`${lines.length ? "\n" : ""}--- ${section} ---`);
        }
        const mark = it.status === "info" ? "" : `${it.status}: `;
        lines.push(`${`${it.name}:`.padEnd(28)} ${mark}${it.detail}`);
      }
      writeOut(`${lines.join("\n")}\n`);
    });
}
