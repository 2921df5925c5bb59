import type { Command } from "@commander-js/extra-typings";
import { LxtError } from "../../core/errors.js";
import { collect, lxcpathOption } from "../common.js";
import { cliContext, resolveLxcpath } from "../context.js";
import { printJson, printTable, writeOut } from "../output.js";
import { withProgress } from "../progress.js";

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
      "import a rootfs tarball, an LXD image (unified, or METADATA ROOTFS), an OCI image layout (directory or tarball), or --builtin busybox",
    )
    .addOption(lxcpathOption())
    .option("--alias <alias>", "an alias for the image (repeatable)", collect, [] as string[])
    .option("--builtin <name>", "build a built-in image: busybox (from the host)")
    .option("--format <format>", "table or json")
    .option("-q, --quiet", "no progress line")
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
      const out = await withProgress(opts, (progress) =>
        importImage(cliContext(opts), files, {
          aliases: opts.alias,
          builtin: opts.builtin === "busybox" ? "busybox" : undefined,
          progress,
        }),
      );
      if (opts.format === "json") return printJson(out);
      writeOut(
        `${out.existed ? "image already stored" : "image imported"}: ${out.meta.fingerprint}\n`,
      );
    });

  image
    .command("build")
    .description(
      "build an image: debian (debootstrap; built once per machine into /var/cache/lxt/images, verified, then stored)",
    )
    .addOption(lxcpathOption())
    .argument("<distribution>", "debian")
    .option("--suite <suite>", "Debian suite (default bookworm)")
    .option("--variant <variant>", "debootstrap variant (default minbase)")
    .option("--arch <arch>", "architecture (default: this host's)")
    .option("--mirror <url>", "Debian mirror (default: the host's apt source)")
    .option("--alias <alias>", "an alias for the image (repeatable)", collect, [] as string[])
    .option("--format <format>", "table or json")
    .option("-q, --quiet", "no progress line")
    .action(async (distro, opts) => {
      if (distro !== "debian") {
        throw new LxtError("usage", `image build: unknown distribution "${distro}" (debian)`);
      }
      const { buildDebianImage } = await import("../../images/debian.js");
      const out = await withProgress(opts, (progress) =>
        buildDebianImage(
          cliContext(opts),
          { suite: opts.suite, variant: opts.variant, arch: opts.arch, mirror: opts.mirror },
          { aliases: opts.alias.length ? opts.alias : undefined, progress },
        ),
      );
      for (const w of out.warnings) process.stderr.write(`lxt: warning: ${w}\n`);
      if (opts.format === "json") return printJson(out);
      writeOut(
        `${out.existed ? "image already stored" : "image stored"}${out.built ? " (built)" : " (from cache)"}: ${out.meta.fingerprint} ${out.meta.aliases.join(",")}\n`,
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
      const ctx = cliContext(opts);
      for (const ref of refs) await deleteImage(ctx, ref);
    });
}
