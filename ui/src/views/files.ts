/** A file browser inside an instance: directories listed, files downloaded, uploads into the directory shown. */
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure, act, bytes } from "../api.js";
import { html } from "../html.js";

const q = encodeURIComponent;

interface Shown {
  path: string;
  type: "directory" | "file" | "symlink";
  entries?: string[];
  size?: number;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`;
}

function parent(path: string): string {
  const p = path.replace(/\/+$/, "").split("/").slice(0, -1).join("/");
  return p || "/";
}

export function FilesTab({ name }: { name: string }) {
  const [path, setPath] = useState("/");
  const [shown, setShown] = useState<Shown | undefined>();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // Only the last path asked for is shown: an earlier answer that comes later is dropped.
  const asked = useRef(0);
  const url = (p: string) => `/1.0/instances/${q(name)}/files?path=${q(p)}`;
  const open = async (p: string) => {
    const mine = ++asked.current;
    const current = () => mine === asked.current;
    setError("");
    try {
      const res = await fetch(url(p), { method: "HEAD", credentials: "same-origin" });
      if (!current()) return;
      if (!res.ok)
        throw new ApiFailure(
          res.status,
          `open ${p}: lxtd answered ${res.status}${res.status === 404 ? " (no such file)" : ""}`,
        );
      const type = (res.headers.get("x-lxd-type") ?? "file") as Shown["type"];
      if (type === "directory") {
        const list = await fetch(url(p), { credentials: "same-origin" });
        const env = (await list.json()) as { metadata: string[]; error?: string };
        if (!current()) return;
        if (!list.ok) throw new ApiFailure(list.status, `list ${p}: ${env.error ?? list.status}`);
        setShown({ path: p, type, entries: [...env.metadata].sort() });
      } else {
        const size = Number(res.headers.get("content-length") ?? Number.NaN);
        setShown({ path: p, type, size });
      }
      setPath(p);
    } catch (err) {
      if (current()) setError((err as Error).message);
    }
  };
  useEffect(() => {
    void open("/");
  }, [name]);
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
    if (!file || shown?.type !== "directory") return;
    setBusy(true);
    setError("");
    try {
      await act(`upload ${file.name}`, "POST", url(join(shown.path, file.name)), file, {
        "Content-Type": "application/octet-stream",
        "X-LXD-type": "file",
        "X-LXD-write": "overwrite",
      });
      form.reset();
      await open(shown.path);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const go = (e: Event) => {
    e.preventDefault();
    const p = String(new FormData(e.target as HTMLFormElement).get("path") ?? "/").trim() || "/";
    void open(p);
  };
  return html`<div class="files">
    <form class="row" onSubmit=${go}>
      <label>Path <input name="path" defaultValue=${path} key=${path} /></label>
      <button type="submit">Open</button>
      ${path !== "/" ? html`<button type="button" onClick=${() => open(parent(path))}>Up</button>` : null}
    </form>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${
      shown?.type === "directory"
        ? html`<ul class="entries" aria-label=${`Contents of ${shown.path}`}>
            ${(shown.entries ?? []).map((n) => html`<li><button type="button" class="link" onClick=${() => open(join(shown.path, n))}>${n}</button></li>`)}
          </ul>
          <form class="row" onSubmit=${upload}>
            <label>Upload into ${shown.path} <input type="file" name="file" required /></label>
            <button type="submit" disabled=${busy}>${busy ? "Uploading…" : "Upload"}</button>
          </form>`
        : shown
          ? html`<p>${shown.path}: a ${shown.type}${Number.isFinite(shown.size) ? `, ${bytes(shown.size ?? 0)}` : ""}.
              <a href=${url(shown.path)} download=${shown.path.split("/").pop()}>Download</a></p>`
          : null
    }
  </div>`;
}
