import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { kernelRandom } from "./random.js";

/** Names this process's temporary files; with `serial`, unique among concurrent writers of one path. */
let token: string | undefined;
let serial = 0;

/**
 * Writes a file atomically: a temporary file beside it, then rename. A
 * reader sees the old or the new content, never a mix. `durable` adds an
 * fsync so that the new content also survives a power loss; runtime files
 * (under /run, gone at reboot anyway) skip it.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o644, durable = true): void {
  token ??= kernelRandom(6).toString("hex");
  const tmp = `${path}.tmp.${token}.${serial++}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * `writeFileAtomic(path, data, mode, true)` done in the thread pool: the
 * fsync (tens of ms on a busy disk) does not stop the event loop of a
 * daemon serving other requests meanwhile. Same guarantees: the rename
 * comes after the content is on disk.
 */
export async function writeFileAtomicAsync(
  path: string,
  data: string,
  mode = 0o644,
): Promise<void> {
  token ??= kernelRandom(6).toString("hex");
  const tmp = `${path}.tmp.${token}.${serial++}`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}
