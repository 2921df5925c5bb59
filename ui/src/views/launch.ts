/** The launch form: name, image, limits, network, storage; creates (and starts) an instance. */
import { useEffect, useState } from "preact/hooks";
import type { ImageJson } from "../../../src/api/images-view.js";
import type { PoolJson } from "../../../src/api/routes/storage.js";
import type { InstancesPost } from "../../../src/api/schemas.js";
import type { NetworkJson } from "../../../src/api/types.js";
import { act, get } from "../api.js";
import { html } from "../html.js";
import { store } from "../store.js";

/** An image's label in the form: its aliases, else its fingerprint's first 12 digits. */
export function imageLabel(i: ImageJson): string {
  const names = i.aliases.map((a) => a.name);
  return names.length ? names.join(", ") : i.fingerprint.slice(0, 12);
}

export function LaunchForm({ onDone }: { onDone: () => void }) {
  const [images, setImages] = useState<ImageJson[]>([]);
  const [nets, setNets] = useState<NetworkJson[]>([]);
  const [pools, setPools] = useState<PoolJson[]>([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    get<ImageJson[]>("/1.0/images?recursion=1", "list images").then(setImages, (e: Error) =>
      setError(e.message),
    );
    get<NetworkJson[]>("/1.0/networks?recursion=1", "list networks").then(
      (l) => setNets(l.filter((n) => n.managed)),
      (e: Error) => setError(e.message),
    );
    get<PoolJson[]>("/1.0/storage-pools?recursion=1", "list storage pools").then(
      setPools,
      (e: Error) => setError(e.message),
    );
  }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const val = (k: string) => String(f.get(k) ?? "").trim();
    const name = val("name");
    const image = images.find((i) => i.fingerprint === val("image"));
    const config: Record<string, string> = {};
    if (val("cpu")) config["limits.cpu"] = val("cpu");
    if (val("memory")) config["limits.memory"] = val("memory");
    const devices: Record<string, Record<string, string>> = {};
    // The profile's root disk is on `default`; another pool is a device of the instance's own.
    if (val("pool") && val("pool") !== "default")
      devices.root = { type: "disk", path: "/", pool: val("pool") };
    if (val("network")) devices.eth0 = { type: "nic", name: "eth0", network: val("network") };
    const body: InstancesPost = {
      ...(name ? { name } : {}),
      type: "container",
      source: image?.aliases[0]
        ? { type: "image", alias: image.aliases[0].name }
        : { type: "image", fingerprint: val("image") },
      config,
      devices,
      start: f.get("start") === "on",
    };
    setBusy(true);
    setError("");
    try {
      await act(`launch ${name || "a new instance"}`, "POST", "/1.0/instances", body);
      await store.refresh();
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<form id="launch" class="card launch" onSubmit=${submit} aria-labelledby="launch-title">
    <h2 id="launch-title">Launch an instance</h2>
    <div class="grid">
      <label>Name <input name="name" pattern="[A-Za-z0-9][A-Za-z0-9_.-]*" title="letters, digits, - _ ." placeholder="(a free name)" autofocus /></label>
      <label>Image <select name="image" required>
        ${images.map((i) => html`<option value=${i.fingerprint}>${imageLabel(i)}${i.properties?.description ? ` — ${i.properties.description}` : ""}</option>`)}
      </select></label>
      <label>CPU limit <input name="cpu" inputmode="decimal" placeholder="e.g. 1 or 0-1" aria-describedby="cpu-help" /></label>
      <label>Memory limit <input name="memory" placeholder="e.g. 256MB" aria-describedby="mem-help" /></label>
      <label>Network <select name="network">
        <option value="">none (no NIC)</option>
        ${nets.map((n) => html`<option value=${n.name}>${n.name}${n.config["ipv4.address"] ? ` (${n.config["ipv4.address"]})` : ""}</option>`)}
      </select></label>
      <label>Storage <select name="pool">
        ${pools.map((p) => html`<option value=${p.name}>${p.name} (${p.driver})</option>`)}
      </select></label>
    </div>
    <p class="help"><span id="cpu-help">CPU: a number of CPUs' time, or a set of CPUs.</span>
      <span id="mem-help">Memory: bytes with kB, MB, GB (or KiB, MiB, GiB).</span></p>
    <label class="check"><input type="checkbox" name="start" checked /> Start it</label>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <div class="row">
      <button type="submit" class="primary" disabled=${busy || images.length === 0}>${busy ? "Launching…" : "Launch"}</button>
      <button type="button" onClick=${onDone}>Cancel</button>
    </div>
  </form>`;
}
