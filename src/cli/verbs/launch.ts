import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, target } from "../common.js";
import { cliCaller } from "../context.js";
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
      "--target <member>",
      "in a cluster: make it on this member, through the local lxtd (lxtd --cluster)",
    )
    .option(
      "--network <network>",
      "first NIC: empty, or a veth on this bridge / managed network (default: the image's; busybox, debian: lxtbr0)",
    )
    .argument("<image>", "image alias or fingerprint prefix, or busybox")
    .argument("<name>", "the new container's name")
    .action(async (image, name, opts) => {
      if (opts.target !== undefined) {
        const { createOnMember } = await import("../cluster-create.js");
        const { resolveLxcpath } = await import("../context.js");
        await createOnMember(resolveLxcpath(opts.lxcpath), {
          name,
          member: opts.target,
          image,
          start: true,
        });
        return;
      }
      const { createContainer } = await import("../../container/create.js");
      const { startContainer } = await import("../../container/start.js");
      const { ctx, paths } = target(opts, name);
      const caller = cliCaller();
      await withProgress(opts, (progress) =>
        createContainer(ctx, paths, {
          caller,
          template: image,
          backend: opts.bdev,
          ...(opts.zfsroot !== undefined ? { zfsRoot: opts.zfsroot } : {}),
          progress,
          ...(opts.network !== undefined ? { network: opts.network } : {}),
        }),
      );
      const started = await startContainer(ctx, paths, { caller });
      for (const w of started.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
    });
}
