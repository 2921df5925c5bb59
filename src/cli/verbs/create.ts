import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
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
    .option(
      "--target <member>",
      "in a cluster: make it on this member, through the local lxtd (only -t IMAGE or --empty)",
    )
    .argument(
      "[template-args...]",
      "after --: arguments for the template (busybox: --net NETWORK; debian: its options)",
    )
    .action(async (nameArg, targsArg, opts) => {
      const { createContainer } = await import("../../container/create.js");
      // With -n, every word after `--` is the template's (`create -n c -t debian -- --suite s`).
      const name = opts.name ? undefined : nameArg;
      const targs = opts.name && nameArg !== undefined ? [nameArg, ...targsArg] : targsArg;
      if (opts.target !== undefined) {
        const { createOnMember } = await import("../cluster-create.js");
        const { resolveLxcpath } = await import("../context.js");
        if (opts.rootfs || opts.config || opts.bdev || targs.length > 0 || !(name ?? opts.name)) {
          throw new LxtError(
            "usage",
            "create --target: give a name and -t IMAGE or --empty (no --rootfs, -f, -B or template arguments)",
          );
        }
        await createOnMember(resolveLxcpath(opts.lxcpath), {
          name: (name ?? opts.name) as string,
          member: opts.target,
          ...(opts.empty ? {} : { image: opts.template ?? "busybox" }),
          start: false,
        });
        return;
      }
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
