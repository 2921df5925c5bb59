/** An instance's snapshots: take, restore (confirmed), delete (confirmed). */
import { useState } from "preact/hooks";
import { act } from "../api.js";
import { confirmAction } from "../dialog.js";
import { html } from "../html.js";
import { type Instance, store } from "../store.js";

const q = encodeURIComponent;

export function SnapshotsTab({ inst }: { inst: Instance }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState("");
  const name = inst.name;
  const run = async (label: string, f: () => Promise<unknown>) => {
    setBusy(label);
    setError("");
    try {
      await f();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy("");
      await store.refreshOne(name);
    }
  };
  const take = (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const snap = String(new FormData(form).get("snap") ?? "").trim();
    void run("take", async () => {
      await act(
        `snapshot ${name}`,
        "POST",
        `/1.0/instances/${q(name)}/snapshots`,
        snap ? { name: snap } : {},
      );
      form.reset();
    });
  };
  const restore = async (snap: string) => {
    const running = inst.status === "Running";
    if (
      !(await confirmAction(
        `Restore ${name} to ${snap}?`,
        `Its root filesystem and config go back to the snapshot; what changed since is lost.${running ? " It is running: it is stopped (killed) and started again." : ""}`,
        "Restore",
      ))
    )
      return;
    await run(`restore ${snap}`, () =>
      act(`restore ${name}/${snap}`, "PUT", `/1.0/instances/${q(name)}`, { restore: snap }),
    );
  };
  const remove = async (snap: string) => {
    if (
      !(await confirmAction(
        `Delete snapshot ${snap}?`,
        "The snapshot is removed for good.",
        "Delete",
      ))
    )
      return;
    await run(`delete ${snap}`, () =>
      act(
        `delete snapshot ${name}/${snap}`,
        "DELETE",
        `/1.0/instances/${q(name)}/snapshots/${q(snap)}`,
      ),
    );
  };
  const snaps = inst.snapshots ?? [];
  return html`<div>
    <form class="row" onSubmit=${take}>
      <label>Snapshot name <input name="snap" placeholder="(snapN)" pattern="[A-Za-z0-9][A-Za-z0-9_.-]*" /></label>
      <button type="submit" class="primary" disabled=${busy !== ""}>${busy === "take" ? "Taking…" : "Take snapshot"}</button>
    </form>
    ${inst.status !== "Stopped" ? html`<p class="help">On this storage a running instance may have to be stopped first (lxtd says so).</p>` : null}
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${busy ? html`<p role="status">Working: ${busy}…</p>` : null}
    ${
      snaps.length === 0
        ? html`<p class="empty">No snapshots.</p>`
        : html`<table class="snapshots"><caption class="sr-only">Snapshots of ${name}</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">Taken</th><th scope="col">Actions</th></tr></thead>
        <tbody>${snaps.map((s) => {
          const sn = s.name.split("/").pop() ?? s.name;
          return html`<tr key=${sn} data-snapshot=${sn}><th scope="row">${sn}</th><td>${new Date(s.created_at).toLocaleString()}</td>
          <td class="actions"><button type="button" disabled=${busy !== ""} aria-label=${`Restore ${sn}`} onClick=${() => restore(sn)}>Restore</button>
          <button type="button" class="danger" disabled=${busy !== ""} aria-label=${`Delete snapshot ${sn}`} onClick=${() => remove(sn)}>Delete</button></td></tr>`;
        })}</tbody></table>`
    }
  </div>`;
}
