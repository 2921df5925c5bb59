/**
 * The server's own config (`GET/PATCH /1.0` `config`), kept as YAML under
 * lxtd's state directory. Only keys lxtd gives a meaning are taken; any
 * other is refused with LXD's words, never dropped.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { parse, stringify } from "yaml";
import { writeFileAtomic } from "../host/atomic.js";
import { badRequest } from "./envelope.js";

export interface ServerKey {
  /** Checks a value; throws with the reason. */
  check(value: string): void;
  /** Never shown back (a password: LXD shows `true` when set). */
  secret?: boolean;
  /** What is kept of a value (a password's hash); the value itself when absent. */
  store?(value: string): string;
}

export class ServerConfig {
  private values: Record<string, string>;

  constructor(
    private readonly file: string,
    private readonly keys: Record<string, ServerKey>,
  ) {
    let loaded: unknown;
    try {
      loaded = parse(readFileSync(file, "utf8"));
    } catch {
      loaded = {};
    }
    this.values = {};
    for (const [k, v] of Object.entries((loaded as Record<string, unknown>) ?? {})) {
      if (typeof v === "string" && k in keys) this.values[k] = v;
    }
  }

  get(key: string): string | undefined {
    return this.values[key];
  }

  /** What `GET /1.0` shows. */
  public(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.values)) out[k] = this.keys[k]?.secret ? "true" : v;
    return out;
  }

  /** PATCH merges (an empty value unsets); PUT replaces. All or nothing. */
  apply(changes: Record<string, unknown>, replace: boolean): void {
    this.commit(this.plan(changes, replace));
  }

  /**
   * The values a PATCH (merge) or PUT (replace) would leave, checked, not
   * yet kept: the caller may act on them (move a listener) before `commit`.
   */
  plan(changes: Record<string, unknown>, replace: boolean): Record<string, string> {
    const next: Record<string, string> = replace ? {} : { ...this.values };
    for (const [k, raw] of Object.entries(changes)) {
      const spec = this.keys[k];
      if (!spec) throw badRequest(`Invalid config: unknown key "${k}"`);
      if (raw === null || raw === "") {
        delete next[k];
        continue;
      }
      if (typeof raw !== "string") throw badRequest(`Invalid value for "${k}": not a string`);
      const old = this.values[k];
      // A secret comes back as shown (`true`) from an edit of the whole config: keep it.
      if (spec.secret && raw === "true" && old !== undefined) {
        next[k] = old;
        continue;
      }
      try {
        spec.check(raw);
      } catch (err) {
        throw badRequest(`Invalid value for "${k}": ${(err as Error).message}`);
      }
      next[k] = spec.store ? spec.store(raw) : raw;
    }
    return next;
  }

  /** Keeps what `plan` made. */
  commit(next: Record<string, string>): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file, stringify(next), 0o600);
    this.values = next;
  }
}
