/**
 * The field encoding shared with the helper (docs/helper-protocol.md): bytes
 * outside a small safe set become `%XX`; the empty string is `%`.
 */

/** Safe characters only: a whole field (the common case, returned as it is) or one byte. */
const SAFE = /^[A-Za-z0-9._/:=,+@-]+$/;
/** Anything outside 0x00-0x7f: such a field takes the slow path (it was not encoded by encodeField). */
const NON_ASCII = /[^\p{ASCII}]/u;

/** Percent-encodes one field. */
export function encodeField(value: string): string {
  if (value === "") return "%";
  // One regex test instead of a test per byte: a plan is a few KiB of mostly
  // safe text, and the per-byte loop over all of it cost milliseconds per start.
  if (SAFE.test(value)) return value;
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const ch = String.fromCharCode(byte);
    out +=
      byte < 0x80 && SAFE.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Decodes one field; throws on a malformed escape. */
export function decodeField(field: string): string {
  if (field === "%") return "";
  if (!field.includes("%") && !NON_ASCII.test(field)) return field;
  const bytes: number[] = [];
  for (let i = 0; i < field.length; i++) {
    const ch = field[i] as string;
    if (ch === "%") {
      const hex = field.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`malformed escape in field "${field}"`);
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Encodes a record: op followed by its fields. */
export function encodeRecord(op: string, fields: readonly string[]): string {
  return [op, ...fields.map(encodeField)].join(" ");
}

/** Splits a record line into its op and decoded fields. */
export function decodeRecord(line: string): { op: string; fields: string[] } {
  const [op = "", ...rest] = line.trim().split(" ");
  return { op, fields: rest.map(decodeField) };
}
