import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, target } from "../common.js";
import { writeOut } from "../output.js";

/** `cgroup -n NAME FILE [VALUE]`, as lxc-cgroup: read or write a cgroup file of a running container. */
export function register(program: Command): void {
  program
    .command("cgroup")
    .description(
      "read or write a cgroup file of a running container (e.g. memory.limit_in_bytes, cpu.max); the file's controller prefix picks the hierarchy",
    )
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .argument("<file-or-name>", "cgroup file (or the container name, then the file)")
    .argument("[args...]", "[file] [value]")
    .action(async (first, rest, opts) => {
      const { readContainerCgroup, writeContainerCgroup } = await import(
        "../../container/resources.js"
      );
      // lxc-cgroup takes `-n NAME KEY [VALUE]`; without -n the name comes first.
      const words = opts.name ? [first, ...rest] : rest;
      const { ctx, paths } = target(opts, opts.name ? undefined : first);
      const [file, ...value] = words;
      if (!file) {
        const { LxtError } = await import("../../core/errors.js");
        throw new LxtError("usage", "cgroup: missing the cgroup file name");
      }
      if (value.length === 0) {
        writeOut(readContainerCgroup(ctx, paths, file));
        return;
      }
      await writeContainerCgroup(ctx, paths, file, value.join(" "));
    });
}
