/**
 * The npm packages whose code the package ships inside lxt's bundles
 * (dist/*.cjs, dist/cluster, dist/ui), each with its licence, for
 * /usr/share/doc/lxt/third-party-licenses: the production dependencies
 * with everything they pull in, and the web UI's libraries, which esbuild
 * bundles from the development dependencies.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The web UI's bundled libraries (ui/build.mjs): development dependencies by npm's books. */
const UI_LIBRARIES = ["preact", "htm", "@xterm/xterm", "@xterm/addon-fit"];

interface NpmTree {
  dependencies?: Record<string, NpmTree & { path?: string }>;
}

/** Directories of the production dependencies, transitively, by `npm ls`. */
function productionDirs(root: string): Set<string> {
  const json = execFileSync("npm", ["ls", "--omit=dev", "--all", "--json", "--long"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const dirs = new Set<string>();
  const walk = (t: NpmTree) => {
    for (const dep of Object.values(t.dependencies ?? {})) {
      if (dep.path && !dirs.has(dep.path)) {
        dirs.add(dep.path);
        walk(dep);
      }
    }
  };
  walk(JSON.parse(json) as NpmTree);
  return dirs;
}

function licenceText(dir: string): string {
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  return file ? readFileSync(join(dir, file), "utf8").trim() : "";
}

/** The third-party-licenses text: one section per package, name@version, its licence and text. */
export function thirdPartyLicences(root: string): string {
  const dirs = productionDirs(root);
  for (const lib of UI_LIBRARIES) {
    const dir = join(root, "node_modules", lib);
    if (existsSync(dir)) dirs.add(dir);
  }
  const sections = [...dirs]
    .map((dir) => {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name: string;
        version: string;
        license?: string;
      };
      const text = licenceText(dir);
      return {
        key: pkg.name,
        body: `${pkg.name}@${pkg.version}\nLicense: ${pkg.license ?? "see below"}\n${text ? `\n${text}\n` : ""}`,
      };
    })
    .sort((a, b) => a.key.localeCompare(b.key));
  const head =
    "Third-party code bundled into lxt's JavaScript files (/usr/lib/lxt/dist):\n" +
    "each npm package with its version, licence and licence text.\n";
  return [head, ...sections.map((s) => s.body)].join(`\n${"-".repeat(72)}\n\n`);
}
