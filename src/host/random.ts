/**
 * Random bytes from the kernel (/dev/urandom) for generated names and MAC
 * digits. Web Crypto or node:crypto would do the same, but loading either
 * costs a start ~5 ms of module compilation; one read costs well under 1 ms.
 */
import { closeSync, openSync, readSync } from "node:fs";

export function kernelRandom(n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync("/dev/urandom", "r");
  try {
    let got = 0;
    while (got < n) got += readSync(fd, buf, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return buf;
}
