import { existsSync } from "node:fs";
import type { Caller, Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import type { Progress } from "../core/progress.js";
import { storageDriver } from "../storage/index.js";
import { cloneContainer } from "./clone.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { repairStale, withLock } from "./runtime.js";
import { type Started, startContainer } from "./start.js";
import { rootfsRef } from "./storage.js";

export interface CopyOptions {
  /** `-s`: a copy-on-write clone (btrfs snapshot, or an overlay over the source). */
  snapshot?: boolean;
  /** `-e`: ephemeral (a CoW clone with `lxc.ephemeral = 1`, started, destroyed when it stops). */
  ephemeral?: boolean;
  /** `-B`: the new container's backend. */
  backend?: string;
  progress?: Progress;
  /** Who asked: the new config is checked, and an ephemeral copy started, for it. */
  caller: Caller;
  /** Cancels the waits of an ephemeral copy's start. */
  signal?: AbortSignal;
}

/**
 * `lxt copy` (lxc-copy): a new container `dst` from `src`, with its own
 * name, hostname and MAC addresses. A running source is refused unless the
 * copy is a snapshot its backend takes atomically. An ephemeral copy is
 * started, as lxc-copy -e does.
 */
export async function copyContainer(
  ctx: Context,
  src: ContainerPaths,
  dst: ContainerPaths,
  opts: CopyOptions,
): Promise<{ started?: Started }> {
  requireExists(src, "copy");
  if (src.lxcpath === dst.lxcpath && src.name === dst.name) {
    throw new LxtError("usage", `copy ${src.name}: the new name must differ (-N NEWNAME)`);
  }
  const cow = !!(opts.snapshot || opts.ephemeral);
  await withLock(ctx, src, async () => {
    const seen = await repairStale(ctx, src);
    if (seen.state !== "STOPPED") {
      const driver = storageDriver(rootfsRef(src, "copy").spec.backend, ctx.host.run);
      const sameBackend = !opts.backend || opts.backend === driver.name;
      if (!(cow && sameBackend && driver.capabilities.liveSnapshot)) {
        throw new LxtError(
          "state",
          `copy ${src.name}: container is ${seen.state}; its ${driver.name} storage cannot be copied consistently while it runs (stop it first)`,
        );
      }
    }
    await withLock(ctx, dst, async () => {
      if (existsSync(dst.dir)) {
        throw new LxtError("exists", `copy ${src.name}: container ${dst.name} already exists`);
      }
      await cloneContainer(ctx, src, dst, {
        caller: opts.caller,
        cow,
        backend: opts.backend,
        hostname: dst.name,
        ephemeral: opts.ephemeral,
        progress: opts.progress,
      });
    });
  });
  if (!opts.ephemeral) return {};
  return { started: await startContainer(ctx, dst, { caller: opts.caller, signal: opts.signal }) };
}
