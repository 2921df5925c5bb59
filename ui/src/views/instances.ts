/** The instance list (live, sortable, filterable) and the launch form. */
import { useEffect, useState } from "preact/hooks";
import { bytes } from "../api.js";
import { html } from "../html.js";
import { cpuRate, type Instance, ipv4, netRate, store } from "../store.js";
import { Actions } from "./actions.js";
import { LaunchForm } from "./launch.js";

type Key = "name" | "status" | "ipv4" | "cpu" | "memory" | "network";
const COLUMNS: [Key, string][] = [
  ["name", "Name"],
  ["status", "State"],
  ["ipv4", "IPv4"],
  ["cpu", "CPU"],
  ["memory", "Memory"],
  ["network", "Network"],
];

/** Re-renders on every change of the store. */
export function useStore(): typeof store {
  const [, set] = useState(0);
  useEffect(() => store.subscribe(() => set((n) => n + 1)), []);
  return store;
}

function value(i: Instance, k: Key): string | number {
  const h = store.history.get(i.name);
  switch (k) {
    case "name":
      return i.name;
    case "status":
      return i.status;
    case "ipv4":
      return ipv4(i)[0] ?? "";
    case "cpu":
      return cpuRate(h) ?? -1;
    case "memory":
      return i.status === "Running" ? i.state.memory.usage : -1;
    case "network":
      return netRate(h) ?? -1;
  }
}

function matches(i: Instance, f: string): boolean {
  if (!f) return true;
  const text = `${i.name} ${i.status} ${ipv4(i).join(" ")} ${i.description}`.toLowerCase();
  return f
    .toLowerCase()
    .split(/\s+/)
    .every((w) => text.includes(w));
}

export function InstancesView() {
  const s = useStore();
  const [filter, setFilter] = useState("");
  const [sort, setSort] = useState<{ key: Key; asc: boolean }>({ key: "name", asc: true });
  const [error, setError] = useState("");
  const [launching, setLaunching] = useState(false);
  // Recomputed on every change of the store: rates move with each poll, even when the list does not.
  const rows = [...s.instances.values()].filter((i) => matches(i, filter));
  rows.sort((a, b) => {
    const x = value(a, sort.key);
    const y = value(b, sort.key);
    const c =
      typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return sort.asc ? c : -c;
  });
  const head = (k: Key, label: string) => {
    const on = sort.key === k;
    return html`<th scope="col" aria-sort=${on ? (sort.asc ? "ascending" : "descending") : "none"} class=${`c-${k}`}>
      <button type="button" class="sort" onClick=${() => setSort({ key: k, asc: on ? !sort.asc : true })}>
        ${label}<span aria-hidden="true">${on ? (sort.asc ? " ▲" : " ▼") : ""}</span>
      </button>
    </th>`;
  };
  return html`
    <section aria-labelledby="instances-title">
      <div class="bar">
        <h1 id="instances-title">Instances</h1>
        <span class=${s.connected ? "live on" : "live"} title="events stream">${s.connected ? "live" : "connecting…"}</span>
        <label class="filter">Filter <input type="search" value=${filter} placeholder="name, state, address"
          onInput=${(e: Event) => setFilter((e.target as HTMLInputElement).value)} /></label>
        <button type="button" class="primary" aria-expanded=${launching} aria-controls="launch"
          onClick=${() => setLaunching(!launching)}>${launching ? "Close launch form" : "Launch"}</button>
      </div>
      ${launching ? html`<${LaunchForm} onDone=${() => setLaunching(false)} />` : null}
      ${error || s.error ? html`<p class="error" role="alert">${error || s.error}</p>` : null}
      <div class="table-wrap">
        <table class="instances">
          <caption class="sr-only">Instances, ${rows.length} shown</caption>
          <thead><tr>${COLUMNS.map(([k, l]) => head(k, l))}<th scope="col" class="c-actions">Actions</th></tr></thead>
          <tbody>
            ${rows.map((i) => {
              const h = s.history.get(i.name);
              const cpu = cpuRate(h);
              const net = netRate(h);
              const running = i.status === "Running";
              return html`<tr key=${i.name} data-name=${i.name}>
                <th scope="row" class="c-name"><a href=${`#/i/${encodeURIComponent(i.name)}`}>${i.name}</a></th>
                <td class="c-status"><span class=${`state ${i.status.toLowerCase()}`}>${i.status.toUpperCase()}</span></td>
                <td class="c-ipv4">${ipv4(i).join(", ")}</td>
                <td class="c-cpu">${running && cpu !== undefined ? `${(cpu * 100).toFixed(1)}%` : ""}</td>
                <td class="c-memory">${running ? bytes(i.state.memory.usage) : ""}</td>
                <td class="c-network">${running && net !== undefined ? `${bytes(net)}/s` : ""}</td>
                <td class="c-actions"><${Actions} inst=${i} onError=${setError} compact /></td>
              </tr>`;
            })}
          </tbody>
        </table>
        ${s.loaded && rows.length === 0 ? html`<p class="empty">${filter ? "No instance matches the filter." : "No instances yet: launch one."}</p>` : null}
        ${s.loaded ? null : html`<p class="empty">Loading…</p>`}
      </div>
    </section>
  `;
}
