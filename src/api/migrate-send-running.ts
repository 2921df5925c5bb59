/**
 * A running container sent to a remote lxtd (docs/migrate.md): its rootfs
 * is sent while it runs (a full incremental dump), then it is checkpointed
 * and stopped, what changed meanwhile and CRIU's images are sent, and the
 * remote imports and restores it (lxt's `/1.0/migrations`). Only then is
 * the source destroyed (`move`) or restored here from the same images
 * (`copy --stateful`). Any failure before the remote runs it drops what the
 * remote was sent and restores the source from its checkpoint.
 *
 * Post-copy (`move --lazy`): the dump leaves the memory out and stays up,
 * the tree frozen, serving its pages (on the address the remote saw the
 * first request come from) until the remote's restore has fetched the last
 * one; only then does the dump end the tree here. A failure before ends the
 * dump so that the tree runs on here: nothing is restored.
 */
import { createReadStream, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { exportContainer } from "../container/backup.js";
import { checkpointContainer } from "../container/checkpoint.js";
import type { LazyDump } from "../container/criu-lazy.js";
import { destroyContainer } from "../container/destroy.js";
import { checkpointRefusal, lazyRefusal, packCheckpoint } from "../container/migrate.js";
import type { ContainerPaths } from "../container/paths.js";
import { restoreContainer } from "../container/restore.js";
import { makeStaging } from "../container/staging.js";
import { LxtError } from "../core/errors.js";
import { type Link, requireAbsent, type SendOptions, type SendResult } from "./migrate-send.js";
import { SIDE_FILES } from "./side-files.js";

/** Sends running container `paths`; see the module's comment. */
export async function sendRunning(
  link: Link,
  paths: ContainerPaths,
  opts: SendOptions,
): Promise<SendResult> {
  const { ctx } = link;
  const refusal = checkpointRefusal(ctx, paths);
  if (refusal) {
    throw new LxtError("unsupported", `${link.what}: ${paths.name} is running: ${refusal}`);
  }
  if (opts.lazy) {
    if (!opts.move)
      throw new LxtError("usage", `${link.what}: --lazy is for a move (the source ends)`);
    const why = await lazyRefusal(ctx, paths);
    if (why) throw new LxtError("unsupported", `${link.what}: --lazy: ${why}`);
  }
  await requireAbsent(link, opts.newName);
  const stage = await makeStaging(ctx, ctx.lxcpath, "migrate");
  // An unprivileged restore (the source's own, after a failure or for a
  // copy) makes every directory above the images searchable by others
  // (ensureTraversable): the archives stay in a private one of their own.
  mkdirSync(join(stage.dir, "work"), { mode: 0o700 });
  const file = (n: string) => join(stage.dir, "work", n);
  const images = join(stage.dir, "checkpoint");
  let bytes = 0;
  const upload = async (method: string, path: string, f: string, headers = {}) => {
    const size = statSync(f).size;
    bytes += size;
    return link.request({
      method,
      path,
      body: createReadStream(f),
      headers: { "Content-Length": String(size), ...headers },
    });
  };
  const dump = { incremental: file("snar"), compression: "zstd", extraFiles: SIDE_FILES };
  let id: string | undefined;
  let dumped = false;
  let running = false;
  let lazy: LazyDump | undefined;
  let pagesMs = 0;
  try {
    opts.progress?.(`sending ${paths.name}'s rootfs while it runs`);
    await exportContainer(ctx, paths, file("base.tar.zst"), dump);
    const made = await upload("POST", "/1.0/migrations", file("base.tar.zst"), {
      "X-LXD-name": opts.newName,
    });
    const {
      id: madeId,
      source,
      target,
    } = (made.metadata ?? {}) as { id?: string; source?: string; target?: string };
    id = madeId;
    if (!id) throw new LxtError("remote", `${link.what}: ${link.to} gave no id`);
    if (opts.lazy && !source)
      throw new LxtError(
        "remote",
        `${link.what}: ${link.to} did not say which address of this host it sees: it cannot fetch pages (--lazy)`,
      );
    rmSync(file("base.tar.zst"));

    opts.progress?.(`checkpointing ${paths.name}`);
    const frozen = ctx.host.clock.now();
    const sentBefore = bytes;
    const cp = await checkpointContainer(ctx, paths, {
      dir: images,
      stop: true,
      lazy: opts.lazy && source ? { address: source, peer: target } : undefined,
    });
    lazy = cp.lazy;
    dumped = !lazy;
    await exportContainer(ctx, paths, file("delta.tar.zst"), dump);
    await upload("PUT", `/1.0/migrations/${id}/delta`, file("delta.tar.zst"));
    await packCheckpoint(ctx, images, file("checkpoint.tar.zst"));
    if (!opts.move) {
      // A copy: the source goes on from the images it was dumped to.
      await restoreContainer(ctx, paths, { dir: images, caller: opts.caller });
      dumped = false;
    }
    opts.progress?.(`restoring ${opts.newName} on ${link.to}`);
    const op = await upload(
      "POST",
      `/1.0/migrations/${id}`,
      file("checkpoint.tar.zst"),
      lazy && source ? { "X-LXT-Page-Server": `${hostPort(source, lazy.port)}` } : {},
    );
    if (!op.operation) throw new LxtError("remote", `${link.what}: remote started no restore`);
    const done = await link.wait(op.operation);
    pagesMs = Number((done as { pages_ms?: unknown } | undefined)?.pages_ms ?? 0) || 0;
    running = true;
    // Stopped until the remote's restore returned: the pages came after.
    const downtimeMs = ctx.host.clock.now() - frozen - pagesMs;
    if (lazy) {
      try {
        await lazy.finish(true);
      } catch (err) {
        throw new LxtError(
          "checkpoint",
          `${link.what}: ${paths.name} runs on ${link.to} now, but its lazy dump here did not end cleanly: ${(err as Error).message}`,
          err,
        );
      }
    }
    if (opts.move) {
      try {
        await destroyContainer(ctx, paths, { snapshots: true });
      } catch (err) {
        throw new LxtError(
          "state",
          `${link.what}: ${paths.name} runs on ${link.to} now, but its stopped copy here could not be removed: ${(err as Error).message}`,
          err,
        );
      }
    }
    return { bytes, downtimeMs, stoppedBytes: bytes - sentBefore, ...(lazy ? { pagesMs } : {}) };
  } catch (err) {
    if (!running) {
      if (id) {
        await link
          .request({
            method: "DELETE",
            path: `/1.0/migrations/${id}`,
          })
          .catch(() => undefined);
      }
      if (lazy) {
        try {
          await lazy.finish(false);
        } catch (again) {
          throw new LxtError(
            "checkpoint",
            `${(err as Error).message}; and ${paths.name}'s lazy dump could not be ended so that it runs on here: ${(again as Error).message}`,
            err,
          );
        }
      }
      if (dumped) {
        try {
          await restoreContainer(ctx, paths, { dir: images, caller: opts.caller });
          dumped = false;
        } catch (again) {
          throw new LxtError(
            "checkpoint",
            `${(err as Error).message}; and ${paths.name} could not be restored here from its checkpoint (in ${images} until the next export, import or move: lxt restore -D): ${(again as Error).message}`,
            err,
          );
        }
      }
    }
    throw err;
  } finally {
    // The images stay when the source could not be restored from them (the
    // claim ends all the same: nothing of this command may outlive it).
    if (!dumped || running) await stage.release();
    else await stage.keep();
  }
}

/** `address:port`, an IPv6 address in brackets. */
function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}
