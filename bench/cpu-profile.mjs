// Where a V8 CPU profile (node --cpu-prof) spent its samples: self time by group (V8's own
// entries such as "(garbage collector)" and "(program)", Node's internals, each script) and the
// functions that took the most. Usage: node bench/cpu-profile.mjs FILE.cpuprofile [TOP]
import { readFileSync } from "node:fs";
import { basename } from "node:path";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: node bench/cpu-profile.mjs FILE.cpuprofile [TOP]");
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, "utf8"));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
// Each sample's interval is the time to the next one (timeDeltas[i + 1]).
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000;
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + dt);
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
const groups = new Map();
const fns = new Map();
for (const [id, ms] of self) {
  const { functionName, url, lineNumber } = byId.get(id).callFrame;
  const group = !url
    ? functionName || "(anonymous native)"
    : url.startsWith("node:")
      ? "node: internals"
      : basename(url);
  groups.set(group, (groups.get(group) ?? 0) + ms);
  const fn = `${functionName || "(anonymous)"} ${url ? `${basename(url)}:${lineNumber + 1}` : ""}`;
  fns.set(fn, (fns.get(fn) ?? 0) + ms);
}
const rows = (m, n) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, ms]) => `  ${ms.toFixed(1).padStart(7)} ms ${((100 * ms) / total).toFixed(0).padStart(3)}%  ${k}`)
    .join("\n");
console.log(`${basename(file)}: ${total.toFixed(1)} ms of samples (wall time of the main thread)`);
console.log(`by group:\n${rows(groups, 12)}`);
console.log(`by function (self):\n${rows(fns, Number(topArg ?? 15))}`);
