/** One instance: its state and actions, and tabs for charts, terminal, console, snapshots, files. */
import { useEffect, useRef, useState } from "preact/hooks";
import { bytes } from "../api.js";
import { html } from "../html.js";
import { cpuRate, ipv4, netRate } from "../store.js";
import type { TerminalHandle, TerminalKind } from "../terminal.js";
import { Actions } from "./actions.js";
import { Charts } from "./charts.js";
import { FilesTab } from "./files.js";
import { useStore } from "./instances.js";
import { SnapshotsTab } from "./snapshots.js";

const TABS: [string, string][] = [
  ["overview", "Overview"],
  ["terminal", "Terminal"],
  ["console", "Console"],
  ["snapshots", "Snapshots"],
  ["files", "Files"],
];

function TerminalTab({
  name,
  kind,
  running,
}: {
  name: string;
  kind: TerminalKind;
  running: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [note, setNote] = useState("");
  const [session, setSession] = useState(0);
  const [phase, setPhase] = useState<"connecting" | "open" | "ended">("connecting");
  useEffect(() => {
    if (!running || !box.current) return;
    let handle: TerminalHandle | undefined;
    let gone = false;
    setNote(kind === "exec" ? "Connecting a shell…" : "Attaching to the console…");
    setPhase("connecting");
    const ended = (why: string) => {
      setNote(why);
      setPhase("ended");
    };
    import("../terminal.js")
      .then((m) => m.openTerminal(box.current as HTMLElement, name, kind, ended))
      .then(
        (h) => {
          if (gone) h.close();
          else {
            handle = h;
            setNote("");
            setPhase("open");
          }
        },
        (err: Error) => ended(err.message),
      );
    return () => {
      gone = true;
      handle?.close();
    };
  }, [name, kind, running, session]);
  if (!running)
    return html`<p class="empty">Start the instance to open a ${kind === "exec" ? "shell" : "console"}.</p>`;
  return html`<div class="term-tab">
    <div class="row">
      <span role="status" class="note">${note}</span>
      <button type="button" onClick=${() => setSession(session + 1)}>${kind === "exec" ? "New shell" : "Reattach"}</button>
    </div>
    <div class="term-box" data-state=${phase} ref=${box} aria-label=${kind === "exec" ? `Shell in ${name}` : `Console of ${name}`} key=${session}></div>
  </div>`;
}

export function InstanceView({ name, tab }: { name: string; tab: string }) {
  const s = useStore();
  const [error, setError] = useState("");
  const inst = s.instances.get(name);
  if (!inst)
    return html`<section><h1>${name}</h1>
      ${s.loaded ? html`<p class="error" role="alert">No instance named ${name}. <a href="#/">Back to the list</a>.</p>` : html`<p>Loading…</p>`}
    </section>`;
  const h = s.history.get(name) ?? [];
  const running = inst.status === "Running";
  const cpu = cpuRate(h);
  const net = netRate(h);
  const base = `#/i/${encodeURIComponent(name)}`;
  const onKey = (e: KeyboardEvent) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const i = TABS.findIndex(([t]) => t === tab);
    const next = TABS[(i + (e.key === "ArrowRight" ? 1 : TABS.length - 1)) % TABS.length];
    if (next) {
      location.hash = `${base}/${next[0]}`;
      requestAnimationFrame(() => document.getElementById(`tab-${next[0]}`)?.focus());
    }
  };
  let panel: ReturnType<typeof html>;
  switch (tab) {
    case "terminal":
      // Keyed per kind: a fresh tab state (phase "connecting"), not the other terminal's "open".
      panel = html`<${TerminalTab} key="exec" name=${name} kind="exec" running=${running} />`;
      break;
    case "console":
      panel = html`<${TerminalTab} key="console" name=${name} kind="console" running=${running} />`;
      break;
    case "snapshots":
      panel = html`<${SnapshotsTab} inst=${inst} />`;
      break;
    case "files":
      panel = html`<${FilesTab} name=${name} />`;
      break;
    default:
      panel = html`<${Charts} history=${h} everyMs=${s.pollMs} />`;
  }
  return html`<section aria-labelledby="inst-title">
    <p><a href="#/">← Instances</a></p>
    <div class="bar">
      <h1 id="inst-title">${name}</h1>
      <span class=${`state ${inst.status.toLowerCase()}`} data-testid="state">${inst.status.toUpperCase()}</span>
      <${Actions} inst=${inst} onError=${setError} />
    </div>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    <dl class="facts">
      <div><dt>IPv4</dt><dd data-testid="ipv4">${ipv4(inst).join(", ") || "–"}</dd></div>
      <div><dt>CPU</dt><dd>${running && cpu !== undefined ? `${(cpu * 100).toFixed(1)}%` : "–"}</dd></div>
      <div><dt>Memory</dt><dd>${running ? bytes(inst.state.memory.usage) : "–"}</dd></div>
      <div><dt>Network</dt><dd>${running && net !== undefined ? `${bytes(net)}/s` : "–"}</dd></div>
      <div><dt>Processes</dt><dd>${running ? inst.state.processes : "–"}</dd></div>
      <div><dt>Limits</dt><dd>${[inst.expanded_config["limits.cpu"] && `CPU ${inst.expanded_config["limits.cpu"]}`, inst.expanded_config["limits.memory"] && `memory ${inst.expanded_config["limits.memory"]}`].filter(Boolean).join(", ") || "none"}</dd></div>
    </dl>
    <div role="tablist" aria-label="Instance views" onKeyDown=${onKey}>
      ${TABS.map(
        ([t, label]) =>
          html`<a role="tab" id=${`tab-${t}`} href=${`${base}/${t}`} aria-selected=${t === tab ? "true" : "false"}
            aria-controls="tabpanel" tabindex=${t === tab ? 0 : -1}>${label}</a>`,
      )}
    </div>
    <div role="tabpanel" id="tabpanel" aria-labelledby=${`tab-${tab}`}>${panel}</div>
  </section>`;
}
