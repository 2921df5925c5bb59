import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Caller, Context } from "../core/context.js";
import { LxtError, wrapError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { Reverter } from "../core/reverter.js";
import { writeFileAtomicAsync } from "../host/atomic.js";
import type { ImageMeta } from "../images/metadata.js";
import {
  filesDir,
  formatRootfsSpec,
  type RootfsRef,
  rootDir,
  type StorageDriver,
  usableDriver,
} from "../storage/index.js";
import { explainNoSpace } from "../storage/space.js";
import { busyboxConfigLines, createBusyboxRootfs, netConfigLines } from "../templates/busybox.js";
import { canShareBase, sharedBusyboxBase } from "./busybox-base.js";
import { writeHostname, writeHostsName } from "./clone.js";
import { clearIncomplete, markIncomplete } from "./incomplete.js";
import { loadConfigFile } from "./launch-input.js";
import type { ContainerPaths } from "./paths.js";
import { withLock } from "./runtime.js";

export interface CreateOptions {
  /** Template name (`busybox`). */
  template?: string;
  /** An existing root filesystem tree to use as is (outside the container directory, so destroy keeps it). */
  rootfs?: string;
  /**
   * An empty rootfs on the backend (LXD's `source: none`, `lxc init --empty`):
   * nothing to run until files are put into it.
   */
  empty?: boolean;
  /** A config file whose entries go first into the new config (`-f`). */
  configFile?: string;
  /** Storage backend for a template's rootfs (`-B`): dir, btrfs, overlay, or best (the default). */
  backend?: string;
  /** `-B zfs`: the parent dataset (`--zfsroot`, LXC's `lxc.bdev.zfs.root`). */
  zfsRoot?: string;
  progress?: Progress;
  /**
   * `lxc.net.0` of a template's or image's container (`--network`): `empty`,
   * or a bridge / managed network for a veth. Default: what the template or
   * image says (busybox: a veth on lxtbr0).
   */
  network?: string;
  /** Arguments after `--`, for the template (busybox: `--net NETWORK`). */
  templateArgs?: string[];
  /** Who asked: the config is checked as its start would read it. */
  caller: Caller;
  /**
   * busybox: the rootfs an overlay over the state root's shared busybox
   * tree where it can be (busybox-base.ts: a dir state root, overlayfs,
   * idmapped mounts), else built as usual (lxtd's creates).
   */
  sharedBase?: boolean;
}

/** Parses the busybox template's arguments (`--net NETWORK`, as `--network`). */
export function parseBusyboxArgs(args: readonly string[]): { network?: string } {
  const out: { network?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? "";
    const m = /^--net(?:work)?(?:=(.*))?$/.exec(a);
    if (!m) {
      throw new LxtError(
        "usage",
        `template busybox: unknown argument "${a}" (it takes --net empty|NETWORK)`,
      );
    }
    const v = m[1] ?? args[++i];
    if (!v)
      throw new LxtError("usage", "template busybox: --net needs a value (empty or a network)");
    out.network = v;
  }
  return out;
}

export const TEMPLATES = ["busybox"] as const;

/**
 * Creates a container: its directory, rootfs (from a template or an existing
 * tree) and config. All or nothing: a failure removes the directory.
 */
export async function createContainer(
  ctx: Context,
  paths: ContainerPaths,
  opts: CreateOptions,
): Promise<void> {
  if (!opts.template && !opts.rootfs && !opts.empty) {
    throw new LxtError(
      "usage",
      `create ${paths.name}: give a template (-t busybox), an existing tree (--rootfs DIR) or --empty`,
    );
  }
  if (opts.empty && (opts.template || opts.rootfs)) {
    throw new LxtError(
      "usage",
      `create ${paths.name}: --empty takes neither a template nor a tree (--rootfs)`,
    );
  }
  const image =
    opts.template && !(TEMPLATES as readonly string[]).includes(opts.template)
      ? await findTemplateImage(paths, opts.template)
      : undefined;
  if (opts.rootfs && opts.backend && opts.backend !== "dir" && opts.backend !== "best") {
    throw new LxtError(
      "usage",
      `create ${paths.name}: an existing tree (--rootfs) is used as a dir rootfs, not ${opts.backend}`,
    );
  }
  if (opts.templateArgs?.length && opts.template !== "busybox") {
    throw new LxtError(
      "usage",
      `create ${paths.name}: arguments after -- are for the busybox template only`,
    );
  }
  const network =
    opts.network ??
    (opts.template === "busybox" ? parseBusyboxArgs(opts.templateArgs ?? []).network : undefined);
  if (network !== undefined) {
    if (!opts.template && !opts.empty) {
      throw new LxtError(
        "usage",
        `create ${paths.name}: --network needs a template, an image or --empty`,
      );
    }
    netConfigLines(network);
  }
  const base =
    opts.template === "busybox" &&
    opts.sharedBase &&
    !opts.rootfs &&
    (await canShareBase(ctx, paths.lxcpath, opts.backend))
      ? await sharedBusyboxBase(ctx, paths.lxcpath)
      : undefined;
  const driver =
    opts.template || opts.empty
      ? await usableDriver(base ? "overlay" : opts.backend, paths.lxcpath, ctx.host.run, {
          ...(opts.zfsRoot !== undefined ? { zfsRoot: opts.zfsRoot } : {}),
        })
      : undefined;
  let baseText = "";
  if (opts.configFile) {
    // Copied, as lxc-create -f does, after checking it parses: a bad file fails
    // before anything is made, and the container does not depend on the file.
    const file = resolve(opts.configFile);
    loadConfigFile(file, opts.caller.env);
    baseText = readFileSync(file, "utf8");
  }
  mkdirSync(paths.lxcpath, { recursive: true, mode: 0o755 });
  await withLock(ctx, paths, async () => {
    try {
      statSync(paths.dir);
      throw new LxtError(
        "exists",
        `create ${paths.name}: container already exists in ${paths.lxcpath}`,
      );
    } catch (err) {
      if (err instanceof LxtError) throw err;
    }
    const revert = new Reverter();
    try {
      mkdirSync(paths.dir, { mode: 0o700 });
      revert.add("container directory", () => rm(paths.dir, { recursive: true, force: true }));
      if (driver) {
        await markIncomplete(
          ctx,
          { spec: driver.newSpec(paths.dir, base), dir: paths.dir },
          opts.empty ? "create --empty" : `create -t ${opts.template}`,
        );
      }
      const lines: string[] = [
        "# lxt container config (LXC format, see lxc.container.conf(5))",
        baseText.trimEnd(),
      ].filter(Boolean);
      if (opts.rootfs) {
        const tree = resolve(opts.rootfs);
        if (!statSync(tree, { throwIfNoEntry: false })?.isDirectory()) {
          throw new LxtError(
            "not-found",
            `create ${paths.name}: rootfs ${tree}: no such directory`,
          );
        }
        lines.push(`lxc.rootfs.path = dir:${tree}`, `lxc.uts.name = ${paths.name}`);
      }
      if (opts.empty && driver) {
        const ref: RootfsRef = { spec: driver.newSpec(paths.dir), dir: paths.dir };
        revert.add("rootfs", () => driver.destroy(ref));
        try {
          await driver.create(ref);
        } catch (err) {
          throw wrapError(`create ${paths.name}: empty rootfs`, err);
        }
        lines.push(
          `lxc.rootfs.path = ${formatRootfsSpec(ref.spec)}`,
          `lxc.uts.name = ${paths.name}`,
        );
        for (const [k, v] of network === undefined ? [] : netConfigLines(network))
          lines.push(`${k} = ${v}`);
      }
      if (opts.template === "busybox" && driver) {
        const ref: RootfsRef = { spec: driver.newSpec(paths.dir, base), dir: paths.dir };
        revert.add("rootfs", () => driver.destroy(ref));
        let made: Awaited<ReturnType<typeof createBusyboxRootfs>>;
        try {
          if (base) {
            // Its own upper over the shared tree: only the files that name it.
            await driver.clone(base, ref, { cow: true });
            writeHostname(ref, true, paths.name);
            writeHostsName(ref, paths.name);
            made = { configLines: busyboxConfigLines(paths.name, 1, network) };
          } else {
            await driver.create(ref);
            made = await createBusyboxRootfs(filesDir(ref), {
              name: paths.name,
              ...(network !== undefined ? { network } : {}),
            });
          }
        } catch (err) {
          throw wrapError(`create ${paths.name}: template busybox`, err);
        }
        if (!opts.rootfs) lines.push(`lxc.rootfs.path = ${formatRootfsSpec(ref.spec)}`);
        for (const [k, v] of made.configLines) lines.push(`${k} = ${v}`);
      }
      if (image && driver) {
        opts.progress?.(
          `${paths.name}: ${driver.capabilities.cowClone ? "cloning" : "copying"} image ${image.aliases[0] ?? image.fingerprint.slice(0, 12)}`,
        );
        const ref = await cloneImage(paths, image, driver, revert);
        lines.push(
          `lxc.rootfs.path = ${formatRootfsSpec(ref.spec)}`,
          `lxc.uts.name = ${paths.name}`,
        );
        // --network replaces the image's first NIC.
        const config =
          network === undefined
            ? image.config
            : [
                ...image.config.filter(([k]) => !k.startsWith("lxc.net.0.")),
                ...netConfigLines(network),
              ];
        for (const [k, v] of config) lines.push(`${k} = ${v}`);
      }
      // lxt's own containers are unprivileged unless the given entries say
      // otherwise; a config without either key (an LXC one) runs privileged.
      if (!lines.some((l) => /^\s*(lxc\.idmap|lxt\.privileged)\s*=/m.test(l)))
        lines.push(
          "# unprivileged: a user namespace with its own id range (docs/security.md)",
          "lxt.privileged = 0",
        );
      await writeFileAtomicAsync(paths.config, `${lines.join("\n")}\n`, 0o644);
      // Validate what we wrote: a template that writes a bad config is a bug caught here.
      loadConfigFile(paths.config, opts.caller.env);
      clearIncomplete(paths.dir);
      revert.success();
    } catch (err) {
      await revert.revert();
      throw explainNoSpace(err, `create ${paths.name}`, paths.lxcpath);
    }
  });
}

/** The image a template name other than a built-in one names (alias or fingerprint prefix). */
async function findTemplateImage(paths: ContainerPaths, name: string): Promise<ImageMeta> {
  const { findImage } = await import("../images/store.js");
  try {
    return findImage(paths.lxcpath, name);
  } catch (err) {
    if (err instanceof LxtError && err.code === "not-found") {
      throw new LxtError(
        "not-found",
        `create ${paths.name}: unknown template "${name}", and no image by that alias or fingerprint (templates: ${TEMPLATES.join(", ")}; images: lxt image list)`,
      );
    }
    throw err;
  }
}

/**
 * The container's rootfs from a stored image: a btrfs snapshot of it, an
 * overlay over it, or a copy, as the driver can; its own /etc/hostname.
 */
async function cloneImage(
  paths: ContainerPaths,
  image: ImageMeta,
  driver: StorageDriver,
  revert: Reverter,
): Promise<RootfsRef> {
  const { imageRootfs } = await import("../images/store.js");
  const src = imageRootfs(paths.lxcpath, image);
  const cow =
    driver.capabilities.cowClone && (driver.name === "overlay" || src.spec.backend === driver.name);
  const ref: RootfsRef = { spec: driver.newSpec(paths.dir, cow ? src : undefined), dir: paths.dir };
  revert.add("rootfs", () => driver.destroy(ref));
  try {
    await driver.clone(src, ref, { cow });
  } catch (err) {
    throw wrapError(`create ${paths.name}: image ${image.fingerprint.slice(0, 12)}`, err);
  }
  writeHostname(ref, existsSync(join(rootDir(src), "etc")), paths.name);
  writeHostsName(ref, paths.name);
  return ref;
}
