/**
 * The trust password (`core.trust_password`): kept only as a salted scrypt
 * hash, shown as `true`, and checked in constant time.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from "node:crypto";

const SALT_BYTES = 32;
const KEY_BYTES = 64;

/** `hex(salt)hex(scrypt(password, salt))`, what the server config stores. */
export function hashPassword(password: string): string {
  const salt = randomBytes(SALT_BYTES);
  return salt.toString("hex") + scryptSync(password, salt, KEY_BYTES).toString("hex");
}

/** Whether `password` is the one `stored` was made from (false when none is set). */
export function checkPassword(stored: string | undefined, password: string): Promise<boolean> {
  if (!stored || stored.length !== (SALT_BYTES + KEY_BYTES) * 2) return Promise.resolve(false);
  const salt = Buffer.from(stored.slice(0, SALT_BYTES * 2), "hex");
  const want = Buffer.from(stored.slice(SALT_BYTES * 2), "hex");
  return new Promise((resolve) => {
    scrypt(password, salt, KEY_BYTES, (err, got) => {
      resolve(!err && timingSafeEqual(got, want));
    });
  });
}
