import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { lxcpathOption, nameOption, target } from "../common.js";
import { withProgress } from "../progress.js";

export function register(program: Command): void {
  program
    .command("export")
    .description("write a container, with its snapshots, to one tarball (lxc export)")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option(
      "--compression <kind>",
      "none, xz, zstd, gzip or bzip2 (default: from FILE's suffix, else zstd)",
    )
    .option("-q, --quiet", "no progress line")
    .argument("[name-or-file]")
    .argument("[file]")
    .action(async (first, second, opts) => {
      const file = opts.name ? (second ?? first) : second;
      const name = opts.name ? undefined : first;
      if (!file)
        throw new LxtError("usage", "export: give the tarball to write (export NAME FILE)");
      const { ctx, paths } = target(opts, name);
      const { exportContainer } = await import("../../container/backup.js");
      await withProgress(opts, (progress) =>
        exportContainer(ctx, paths, file, { compression: opts.compression, progress }),
      );
    });
}
