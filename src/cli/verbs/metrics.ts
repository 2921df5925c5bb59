import type { Command } from "@commander-js/extra-typings";
import { checkName } from "../../core/names.js";
import { lxcpathOption } from "../common.js";
import { cliContext } from "../context.js";
import { writeOut } from "../output.js";

/** `metrics`: the Prometheus text lxtd serves at /1.0/metrics, for the CLI. */
export function register(program: Command): void {
  program
    .command("metrics")
    .description(
      "print Prometheus metrics (LXD's names) of every running container, or of the named ones",
    )
    .addHelpText(
      "after",
      "\nWhen an lxtd serves the state root, it answers (the launcher asks its socket first;\nLXT_METRICS_NO_DAEMON=1 skips that); otherwise lxt samples by itself. The output is the same.",
    )
    .option("-n, --name <name>", "a container (repeatable)", (v, acc: string[]) => [...acc, v], [])
    .addOption(lxcpathOption())
    .argument("[names...]")
    .action(async (names, opts) => {
      const { scrapeText } = await import("../../container/metrics.js");
      const wanted = [...opts.name, ...names].map((n) => checkName(n));
      writeOut(await scrapeText(cliContext(opts), wanted));
    });
}
