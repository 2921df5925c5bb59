/** Managed networks with their DHCP leases and port forwards. */
import { useEffect, useState } from "preact/hooks";
import type { ForwardJson, LeaseJson, NetworkJson } from "../../../src/api/types.js";
import { get } from "../api.js";
import { html } from "../html.js";

const q = encodeURIComponent;

function Detail({ net }: { net: NetworkJson }) {
  const [leases, setLeases] = useState<LeaseJson[] | undefined>();
  const [forwards, setForwards] = useState<ForwardJson[] | undefined>();
  const [error, setError] = useState("");
  useEffect(() => {
    get<LeaseJson[]>(`/1.0/networks/${q(net.name)}/leases`, `leases of ${net.name}`).then(
      setLeases,
      (e: Error) => setError(e.message),
    );
    get<ForwardJson[]>(
      `/1.0/networks/${q(net.name)}/forwards?recursion=1`,
      `forwards of ${net.name}`,
    ).then(setForwards, (e: Error) => setError(e.message));
  }, [net.name]);
  return html`<div class="detail">
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <h3>Leases</h3>
    ${
      leases === undefined
        ? html`<p>Loading…</p>`
        : leases.length === 0
          ? html`<p class="empty">No leases.</p>`
          : html`<table><thead><tr><th scope="col">Host</th><th scope="col">Address</th><th scope="col">MAC</th><th scope="col">Type</th></tr></thead>
          <tbody>${leases.map((l) => html`<tr><td>${l.hostname}</td><td>${l.address}</td><td>${l.hwaddr}</td><td>${l.type}</td></tr>`)}</tbody></table>`
    }
    <h3>Forwards</h3>
    ${
      forwards === undefined
        ? html`<p>Loading…</p>`
        : forwards.length === 0
          ? html`<p class="empty">No forwards.</p>`
          : html`<table><thead><tr><th scope="col">Listen</th><th scope="col">Protocol</th><th scope="col">Port</th><th scope="col">Target</th></tr></thead>
          <tbody>${forwards.flatMap((f) => f.ports.map((p) => html`<tr><td>${f.listen_address}</td><td>${p.protocol}</td><td>${p.listen_port}</td><td>${p.target_address}:${p.target_port || p.listen_port}</td></tr>`))}</tbody></table>`
    }
  </div>`;
}

export function NetworksView() {
  const [nets, setNets] = useState<NetworkJson[] | undefined>();
  const [open, setOpen] = useState("");
  const [error, setError] = useState("");
  useEffect(() => {
    get<NetworkJson[]>("/1.0/networks?recursion=1", "list networks").then(
      (l) => setNets(l.filter((n) => n.managed)),
      (e: Error) => setError(e.message),
    );
  }, []);
  return html`<section aria-labelledby="nets-title">
    <h1 id="nets-title">Networks</h1>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${nets === undefined ? html`<p>Loading…</p>` : nets.length === 0 ? html`<p class="empty">No managed networks. <code>lxt network create</code> or the first start on one makes it.</p>` : null}
    ${(nets ?? []).map(
      (n) => html`<article class="card" key=${n.name}>
        <h2>${n.name}</h2>
        <p>${[n.config["ipv4.address"], n.config["ipv6.address"]].filter((a) => a && a !== "none").join(" · ")}
          · ${(n.used_by ?? []).length} in use${n.description ? html` · ${n.description}` : null}</p>
        <button type="button" aria-expanded=${open === n.name} onClick=${() => setOpen(open === n.name ? "" : n.name)}>
          ${open === n.name ? "Hide" : "Show"} leases and forwards</button>
        ${open === n.name ? html`<${Detail} net=${n} />` : null}
      </article>`,
    )}
  </section>`;
}
