/** An instance's lifecycle buttons, each confirmed where it interrupts or destroys something. */
import { useState } from "preact/hooks";
import { act } from "../api.js";
import { confirmAction } from "../dialog.js";
import { html } from "../html.js";
import { type Instance, store } from "../store.js";

type Verb = "start" | "stop" | "restart" | "freeze" | "unfreeze" | "delete";

const CONFIRM: Partial<Record<Verb, string>> = {
  stop: "Its processes are asked to end (killed after 30 s).",
  restart: "Its processes are stopped, then it starts again.",
  freeze: "Its processes are paused until it is unfrozen.",
  delete: "Its root filesystem and its snapshots are removed. This cannot be undone.",
};

const q = encodeURIComponent;

/** Runs a verb on an instance (after confirmation); resolves with an error text or "". */
export async function runVerb(name: string, verb: Verb): Promise<string> {
  const why = CONFIRM[verb];
  const label = verb[0]?.toUpperCase() + verb.slice(1);
  if (why && !(await confirmAction(`${label} ${name}?`, why, label))) return "";
  try {
    if (verb === "delete") await act(`delete ${name}`, "DELETE", `/1.0/instances/${q(name)}`);
    else
      await act(`${verb} ${name}`, "PUT", `/1.0/instances/${q(name)}/state`, {
        action: verb,
        timeout: 30,
        force: false,
      });
    await store.refreshOne(name);
    return "";
  } catch (err) {
    await store.refreshOne(name);
    return (err as Error).message;
  }
}

export function Actions({
  inst,
  onError,
  compact,
}: {
  inst: Instance;
  onError: (msg: string) => void;
  compact?: boolean;
}) {
  const [busy, setBusy] = useState<Verb | "">("");
  const s = inst.status;
  const verbs: Verb[] =
    s === "Running"
      ? ["stop", "restart", "freeze"]
      : s === "Frozen"
        ? ["unfreeze", "stop"]
        : s === "Stopped"
          ? ["start", "delete"]
          : [];
  const go = async (v: Verb) => {
    setBusy(v);
    onError("");
    const err = await runVerb(inst.name, v);
    setBusy("");
    if (err) onError(err);
  };
  return html`<div class=${compact ? "actions compact" : "actions"} role="group" aria-label=${`Actions on ${inst.name}`}>
    ${verbs.map(
      (v) =>
        html`<button
          type="button"
          class=${v === "delete" ? "danger" : ""}
          disabled=${busy !== ""}
          aria-busy=${busy === v ? "true" : undefined}
          aria-label=${`${v[0]?.toUpperCase()}${v.slice(1)} ${inst.name}`}
          onClick=${() => go(v)}
        >${busy === v ? `${v}…` : v[0]?.toUpperCase() + v.slice(1)}</button>`,
    )}
  </div>`;
}
