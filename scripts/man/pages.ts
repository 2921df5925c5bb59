/**
 * Every man page of lxt, from the program's own definitions (see roff.ts).
 * `node --import tsx scripts/man/pages.ts OUTDIR` (npm run build:man) writes
 * them as OUTDIR/man1/lxt.1, OUTDIR/man1/lxt-start.1, ...
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { lxtdProgram } from "../../src/cli/lxtd-program.js";
import { buildProgram } from "../../src/cli/program.js";
import { allKeySpecs } from "../../src/config/keys.js";
import {
  confPage,
  lxtdPage,
  lxtPage,
  type ManPage,
  type PageInfo,
  verbPages,
  visibleCommands,
} from "./roff.js";

const ROOT = join(import.meta.dirname, "..", "..");

/** The version and a date that is the build's commit's (today outside git; SOURCE_DATE_EPOCH wins). */
export function pageInfo(): PageInfo {
  const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    version: string;
  };
  let when = new Date();
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch && /^\d+$/.test(epoch)) when = new Date(Number(epoch) * 1000);
  else {
    try {
      const out = execFileSync("git", ["-C", ROOT, "log", "-1", "--format=%ct"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
      when = new Date(Number(out.trim()) * 1000);
    } catch {
      // Not a git checkout: today.
    }
  }
  return { version, date: when.toISOString().slice(0, 10) };
}

/** The lxt program with every verb registered, as commander's plain type. */
export function lxtCommand(): Command {
  return buildProgram() as unknown as Command;
}

/** All pages: lxt(1), one per verb (and alias), lxt.container.conf(5), lxtd(8). */
export function allPages(info: PageInfo = pageInfo()): ManPage[] {
  const program = lxtCommand();
  return [
    lxtPage(program, info),
    ...visibleCommands(program).flatMap((v) => verbPages(v, info)),
    confPage(allKeySpecs(), info),
    lxtdPage(lxtdProgram() as unknown as Command, info),
  ];
}

/** Writes every page under `dir/man<section>/`, replacing what was there. */
export function writePages(dir: string, pages: ManPage[] = allPages()): void {
  for (const s of [1, 5, 8]) rmSync(join(dir, `man${s}`), { recursive: true, force: true });
  for (const p of pages) {
    mkdirSync(join(dir, `man${p.section}`), { recursive: true });
    writeFileSync(join(dir, `man${p.section}`, p.file), p.text);
  }
}

if (process.argv[1] === import.meta.filename) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write("usage: pages.ts OUTDIR\n");
    process.exit(2);
  }
  writePages(out);
}
