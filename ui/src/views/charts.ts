/** Small inline SVG line charts of an instance's history (no chart library). */
import { bytes } from "../api.js";
import { html } from "../html.js";
import type { Sample } from "../store.js";

const W = 300;
const H = 80;

function Chart({
  title,
  values,
  format,
}: {
  title: string;
  values: number[];
  format: (n: number) => string;
}) {
  const max = Math.max(...values, 1e-9);
  const last = values[values.length - 1];
  const pts = values
    .map(
      (v, i) =>
        `${((i / Math.max(values.length - 1, 1)) * W).toFixed(1)},${(H - (v / max) * (H - 4)).toFixed(1)}`,
    )
    .join(" ");
  const summary =
    last === undefined ? "no samples yet" : `now ${format(last)}, peak ${format(max)}`;
  return html`<figure class="chart">
    <figcaption>${title}: <span>${summary}</span></figcaption>
    <svg viewBox=${`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label=${`${title}, ${summary}`}>
      <polyline points=${pts} fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke" />
    </svg>
  </figure>`;
}

/** Per-interval rates from cumulative counters. */
function rates(h: Sample[], f: (s: Sample) => number, scale: number): number[] {
  const out: number[] = [];
  for (let i = 1; i < h.length; i++) {
    const a = h[i - 1] as Sample;
    const b = h[i] as Sample;
    out.push(b.t > a.t ? Math.max(0, ((f(b) - f(a)) * scale) / (b.t - a.t)) : 0);
  }
  return out;
}

export function Charts({ history, everyMs }: { history: Sample[]; everyMs: number }) {
  const minutes =
    history.length > 1 ? Math.round(((history.at(-1)?.t ?? 0) - (history[0]?.t ?? 0)) / 60000) : 0;
  return html`<section class="charts" aria-label="Usage over the last minutes">
    <p class="help">The last ${minutes || "<1"} min, one sample every ${Math.round(everyMs / 1000)} s while this page is open.</p>
    <div class="chart-row">
      <${Chart} title="CPU" values=${rates(history, (s) => s.cpuNs, 1e-4)} format=${(n: number) => `${n.toFixed(1)}%`} />
      <${Chart} title="Memory" values=${history.map((s) => s.mem)} format=${bytes} />
      <${Chart} title="Network" values=${rates(history, (s) => s.rx + s.tx, 1000)} format=${(n: number) => `${bytes(n)}/s`} />
    </div>
  </section>`;
}
