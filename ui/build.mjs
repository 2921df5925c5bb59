// Builds the web UI into dist/ui/ (what lxtd serves at /ui/): the app as
// hashed ES modules (the terminal, with xterm.js, is a chunk loaded when a
// terminal opens), index.html naming them with the stylesheet inline, and login.html
// with its small script inlined (the one page an untrusted browser gets).
// Files past 1 KiB get a .gz twin the daemon sends to browsers that take gzip.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, "..", "dist", "ui");
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const common = {
  bundle: true,
  minify: true,
  target: ["chrome100", "firefox100", "safari15"],
  legalComments: "none",
  logLevel: "warning",
};
const app = await build({
  ...common,
  entryPoints: { main: join(root, "src/main.ts"), style: join(root, "src/style.css") },
  format: "esm",
  splitting: true,
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  metafile: true,
});
const named = (entry) => {
  for (const [file, o] of Object.entries(app.metafile.outputs))
    if (o.entryPoint?.endsWith(entry)) return `/ui/assets/${basename(file)}`;
  throw new Error(`build:ui: no output for ${entry}`);
};
const js = named("src/main.ts");
// The stylesheet goes inline: the first paint waits for no second request.
const css = readFileSync(join(out, named("src/style.css").replace("/ui/", "")), "utf8");
rmSync(join(out, named("src/style.css").replace("/ui/", "")));
writeFileSync(
  join(out, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lxt</title>
<link rel="icon" href="data:,">
<style>${css}</style>
<link rel="modulepreload" href="${js}">
</head>
<body>
<div id="app"><p class="loading">Loading…</p></div>
<script type="module" src="${js}"></script>
</body>
</html>
`,
);

const login = await build({
  ...common,
  entryPoints: [join(root, "src/login.ts")],
  format: "iife",
  write: false,
});
const loginCss = readFileSync(join(root, "src/login.css"), "utf8");
const loginHtml = readFileSync(join(root, "src/login.html"), "utf8")
  .replace("/*STYLE*/", () => loginCss)
  .replace("/*SCRIPT*/", () => login.outputFiles[0].text.trim());
writeFileSync(join(out, "login.html"), loginHtml);

const walk = (d) =>
  readdirSync(d).flatMap((n) =>
    statSync(join(d, n)).isDirectory() ? walk(join(d, n)) : [join(d, n)],
  );
let total = 0;
for (const f of walk(out)) {
  const body = readFileSync(f);
  total += body.length;
  if (body.length > 1024) writeFileSync(`${f}.gz`, gzipSync(body, { level: 9 }));
}
console.log(
  `build:ui: ${walk(out).filter((f) => !f.endsWith(".gz")).length} files, ${Math.round(total / 1024)} KiB in dist/ui`,
);
