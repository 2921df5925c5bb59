import type { Command } from "@commander-js/extra-typings";
import { resolveLxcpath } from "../../container/paths.js";
import { LxtError } from "../../core/errors.js";
import { collect, lxcpathOption } from "../common.js";
import { printJson, printTable } from "../output.js";

export function register(program: Command): void {
  const image = program
    .command("image")
    .description("the local image store: list, import, show, delete (lxc image)");

  image
    .command("list")
    .alias("ls")
    .description("list stored images")
    .addOption(lxcpathOption())
    .option("--format <format>", "table or json")
    .action(async (opts) => {
      const { listImages } = await import("../../images/store.js");
      const list = listImages(resolveLxcpath(opts.lxcpath));
      if (opts.format === "json") return printJson(list);
      printTable(
        ["ALIAS", "FINGERPRINT", "DESCRIPTION", "ARCH", "CREATED"],
        list.map((i) => [
          i.aliases.join(",") || "-",
          i.fingerprint.slice(0, 12),
          i.description || "-",
          i.architecture,
          i.created.slice(0, 19).replace("T", " "),
        ]),
      );
    });

  image
    .command("import")
    .description(
      "import a rootfs tarball, an LXD image (unified, or METADATA ROOTFS), or --builtin busybox",
    )
    .addOption(lxcpathOption())
    .option("--alias <alias>", "an alias for the image (repeatable)", collect, [] as string[])
    .option("--builtin <name>", "build a built-in image: busybox (from the host)")
    .option("--format <format>", "table or json")
    .argument("[files...]")
    .action(async (files, opts) => {
      if (opts.builtin !== undefined && opts.builtin !== "busybox") {
        throw new LxtError(
          "usage",
          `image import: unknown built-in image "${opts.builtin}" (busybox)`,
        );
      }
      if (opts.builtin && files.length > 0) {
        throw new LxtError("usage", "image import: --builtin takes no files");
      }
      const { importImage } = await import("../../images/store.js");
      const out = await importImage(resolveLxcpath(opts.lxcpath), files, {
        aliases: opts.alias,
        builtin: opts.builtin === "busybox" ? "busybox" : undefined,
      });
      if (opts.format === "json") return printJson(out);
      process.stdout.write(
        `${out.existed ? "image already stored" : "image imported"}: ${out.meta.fingerprint}\n`,
      );
    });

  image
    .command("show")
    .alias("info")
    .description("show an image's metadata (JSON)")
    .addOption(lxcpathOption())
    .argument("<image>", "alias or fingerprint prefix")
    .action(async (ref, opts) => {
      const { findImage } = await import("../../images/store.js");
      printJson(findImage(resolveLxcpath(opts.lxcpath), ref));
    });

  image
    .command("delete")
    .alias("rm")
    .description("delete an image (containers made from it are independent and stay)")
    .addOption(lxcpathOption())
    .argument("<images...>", "aliases or fingerprint prefixes")
    .action(async (refs, opts) => {
      const { deleteImage } = await import("../../images/store.js");
      for (const ref of refs) await deleteImage(resolveLxcpath(opts.lxcpath), ref);
    });
}
