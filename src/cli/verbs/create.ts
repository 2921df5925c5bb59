import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, targetPaths } from "../common.js";

export function register(program: Command): void {
  program
    .command("create")
    .description("create a container from a template or an existing root filesystem")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option("-t, --template <template>", "template to build the rootfs with (busybox)")
    .option("--rootfs <dir>", "use this existing directory as the rootfs (kept on destroy)")
    .option("-f, --config <file>", "config file to include in the new container's config")
    .option(
      "-B, --bdev <backend>",
      "storage backend: dir, btrfs, overlay, or best (btrfs when the state root is on btrfs, else dir)",
    )
    .option(
      "--network <network>",
      "first NIC: empty, or a veth on this bridge / managed network (default: lxtbr0, created on first start)",
    )
    .argument("[name]")
    .argument("[template-args...]", "after --: arguments for the template (busybox: --net NETWORK)")
    .action(async (name, targs, opts) => {
      const { createContainer } = await import("../../container/create.js");
      const paths = targetPaths(opts, name);
      await createContainer(paths, {
        template: opts.template,
        rootfs: opts.rootfs,
        configFile: opts.config,
        backend: opts.bdev,
        ...(opts.network !== undefined ? { network: opts.network } : {}),
        templateArgs: targs,
      });
    });
}
