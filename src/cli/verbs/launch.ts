import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, startOptions, targetPaths } from "../common.js";
import { withProgress } from "../progress.js";

export function register(program: Command): void {
  program
    .command("launch")
    .description("create a container from an image (or the busybox template) and start it")
    .addOption(lxcpathOption())
    .option(
      "-B, --bdev <backend>",
      "storage backend: dir, btrfs, overlay, zfs, or best (the default)",
    )
    .option(
      "--zfsroot <dataset>",
      "-B zfs: the parent dataset of the container's dataset (default: lxt)",
    )
    .option("-q, --quiet", "no progress line")
    .option(
      "--network <network>",
      "first NIC: empty, or a veth on this bridge / managed network (default: the image's; busybox, debian: lxtbr0)",
    )
    .argument("<image>", "image alias or fingerprint prefix, or busybox")
    .argument("<name>", "the new container's name")
    .action(async (image, name, opts) => {
      const { createContainer } = await import("../../container/create.js");
      const { startContainer } = await import("../../container/start.js");
      const paths = targetPaths(opts, name);
      await withProgress(opts, (progress) =>
        createContainer(paths, {
          template: image,
          backend: opts.bdev,
          ...(opts.zfsroot !== undefined ? { zfsRoot: opts.zfsroot } : {}),
          progress,
          ...(opts.network !== undefined ? { network: opts.network } : {}),
        }),
      );
      const started = await startContainer(paths, startOptions());
      for (const w of started.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
    });
}
