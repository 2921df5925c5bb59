import type { Command } from "@commander-js/extra-typings";
import { lxcpathOption, nameOption, target } from "../common.js";
import { cliCaller } from "../context.js";
import { withProgress } from "../progress.js";
import { sweepAndReport } from "../sweep.js";

export function register(program: Command): void {
  program
    .command("create")
    .description("create a container from a template or an existing root filesystem")
    .addOption(nameOption())
    .addOption(lxcpathOption())
    .option(
      "-t, --template <template>",
      "busybox, debian (-- --suite S --variant V --arch A --mirror URL), or an image alias/fingerprint",
    )
    .option("--rootfs <dir>", "use this existing directory as the rootfs (kept on destroy)")
    .option("--empty", "an empty rootfs on the backend (nothing to run until files are put in)")
    .option("-f, --config <file>", "config file to include in the new container's config")
    .option(
      "-B, --bdev <backend>",
      "storage backend: dir, btrfs, overlay, zfs, or best (btrfs when the state root is on btrfs, else dir)",
    )
    .option(
      "--zfsroot <dataset>",
      "-B zfs: the parent dataset of the container's dataset (default: lxt)",
    )
    .option(
      "--network <network>",
      "first NIC: empty, or a veth on this bridge / managed network (default: lxtbr0, created on first start)",
    )
    .argument("[name]")
    .option("-q, --quiet", "no progress line")
    .argument(
      "[template-args...]",
      "after --: arguments for the template (busybox: --net NETWORK; debian: its options)",
    )
    .action(async (nameArg, targsArg, opts) => {
      const { createContainer } = await import("../../container/create.js");
      // With -n, every word after `--` is the template's (`create -n c -t debian -- --suite s`).
      const name = opts.name ? undefined : nameArg;
      const targs = opts.name && nameArg !== undefined ? [nameArg, ...targsArg] : targsArg;
      const { ctx, paths } = target(opts, name);
      await sweepAndReport(ctx);
      await withProgress(opts, async (progress) => {
        let template = opts.template;
        let templateArgs = targs;
        if (template === "debian") {
          // As LXC's debian template: the tree is built once (cached), then cloned.
          const { buildDebianImage, parseDebianArgs } = await import("../../images/debian.js");
          const out = await buildDebianImage(ctx, parseDebianArgs(targs), { progress });
          for (const w of out.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
          template = out.meta.fingerprint;
          templateArgs = [];
        }
        await createContainer(ctx, paths, {
          caller: cliCaller(),
          template,
          rootfs: opts.rootfs,
          empty: opts.empty,
          configFile: opts.config,
          backend: opts.bdev,
          ...(opts.zfsroot !== undefined ? { zfsRoot: opts.zfsroot } : {}),
          progress,
          ...(opts.network !== undefined ? { network: opts.network } : {}),
          templateArgs,
        });
      });
    });
}
