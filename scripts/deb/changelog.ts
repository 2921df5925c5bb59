/**
 * CHANGELOG.md (Keep a Changelog) → the Debian package's changelog, so the
 * project keeps one change log and the package's cannot drift from it.
 * Pure: the caller gives the text, the package version and the dates.
 */

/** One `## [VERSION] - DATE` section (or `## [Unreleased]`, date undefined). */
export interface Release {
  version: string;
  date: string | undefined;
  /** `### Added`, `### Fixed`, ... with their items, in the file's order. */
  sections: { heading: string; items: string[] }[];
}

/** The releases of a Keep a Changelog file, newest first as written. */
export function parseChangelog(md: string): Release[] {
  const releases: Release[] = [];
  let item: string[] | undefined;
  const flush = () => {
    const section = releases.at(-1)?.sections.at(-1);
    if (item && section) section.items.push(item.join(" "));
    item = undefined;
  };
  for (const [i, line] of md.split("\n").entries()) {
    const release = /^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?\s*$/.exec(line);
    if (release) {
      flush();
      releases.push({ version: release[1] as string, date: release[2], sections: [] });
      continue;
    }
    if (line.startsWith("## ")) throw new Error(`CHANGELOG.md:${i + 1}: not "## [VERSION] - DATE"`);
    const heading = /^### (.+)$/.exec(line);
    if (heading) {
      flush();
      releases.at(-1)?.sections.push({ heading: heading[1] as string, items: [] });
      continue;
    }
    const bullet = /^- (.*)$/.exec(line);
    if (bullet && releases.at(-1)?.sections.length) {
      flush();
      item = [bullet[1] as string];
    } else if (item && /^\s+\S/.test(line)) {
      item.push(line.trim());
    } else if (line.trim() !== "") {
      flush();
    }
  }
  flush();
  return releases;
}

/** `text` wrapped to `width` columns, the first line after `first`, the rest after `rest`. */
function wrap(text: string, first: string, rest: string, width = 79): string[] {
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(/\s+/)) {
    if (line.length > rest.length && line !== first && line.length + 1 + word.length > width) {
      lines.push(line);
      line = rest + word;
    } else {
      line += line === first ? word : ` ${word}`;
    }
  }
  lines.push(line);
  return lines;
}

/** RFC 5322 date as dpkg wants it (`Mon, 07 Dec 2026 00:00:00 +0000`), in UTC. */
export function debianDate(d: Date): string {
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(" ");
  const p = (n: number) => String(n).padStart(2, "0");
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface DebianChangelogInput {
  /** The package's version. */
  version: string;
  /** `Name <address>`, the package's maintainer. */
  maintainer: string;
  /** The date of an entry made for the package version (unreleased changes). */
  buildDate: Date;
}

/**
 * The Debian changelog: one entry per released version, and on top one for
 * `version` if no release carries it (the Unreleased items, or a line
 * saying it is a build between releases). Headings other than `Added`
 * prefix their items (`Fixed: ...`).
 */
export function debianChangelog(releases: Release[], input: DebianChangelogInput): string {
  const entry = (version: string, date: Date, items: string[]) =>
    [
      `lxt (${version}) unstable; urgency=medium`,
      "",
      ...items.flatMap((t) => wrap(t, "  * ", "    ")),
      "",
      ` -- ${input.maintainer}  ${debianDate(date)}`,
      "",
    ].join("\n");
  const itemsOf = (r: Release) =>
    r.sections.flatMap((s) =>
      s.items.map((t) => (s.heading === "Added" ? t : `${s.heading}: ${t}`)),
    );
  const released = releases.filter((r) => r.version !== "Unreleased");
  for (const r of released) {
    if (!r.date) throw new Error(`CHANGELOG.md: release ${r.version} has no date`);
  }
  const out: string[] = [];
  if (!released.some((r) => r.version === input.version)) {
    const unreleased = releases.find((r) => r.version === "Unreleased");
    const items = unreleased ? itemsOf(unreleased) : [];
    out.push(
      entry(
        input.version,
        input.buildDate,
        items.length > 0 ? items : ["A build between releases; no change recorded."],
      ),
    );
  }
  for (const r of released) {
    out.push(entry(r.version, new Date(`${r.date}T00:00:00Z`), itemsOf(r)));
  }
  return out.join("\n");
}
