/** Images: the list, and an import from a tarball (LXD's unified image format) with an alias. */
import { useEffect, useState } from "preact/hooks";
import type { ImageJson } from "../../../src/api/images-view.js";
import { act, bytes, get } from "../api.js";
import { html } from "../html.js";
import { imageLabel } from "./launch.js";

export function ImagesView() {
  const [images, setImages] = useState<ImageJson[] | undefined>();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const load = () =>
    get<ImageJson[]>("/1.0/images?recursion=1", "list images").then(setImages, (e: Error) =>
      setError(e.message),
    );
  useEffect(() => {
    void load();
  }, []);
  const upload = async (e: Event) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const file = (form.elements.namedItem("file") as HTMLInputElement).files?.[0];
    const alias = String(new FormData(form).get("alias") ?? "").trim();
    if (!file) return;
    setBusy(true);
    setError("");
    try {
      const out = await act<{ fingerprint: string }>(
        `import ${file.name}`,
        "POST",
        "/1.0/images",
        file,
        {
          "Content-Type": "application/octet-stream",
          "X-LXD-filename": file.name,
        },
      );
      if (alias)
        await act(`alias ${alias}`, "POST", "/1.0/images/aliases", {
          name: alias,
          target: out.fingerprint,
        });
      form.reset();
      await load();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return html`<section aria-labelledby="images-title">
    <h1 id="images-title">Images</h1>
    <form class="card row" onSubmit=${upload} aria-label="Import an image">
      <label>Image tarball <input type="file" name="file" required accept=".tar,.tar.gz,.tgz,.tar.xz,.tar.zst,.squashfs" /></label>
      <label>Alias <input name="alias" placeholder="(none)" /></label>
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Importing…" : "Import"}</button>
    </form>
    ${error ? html`<p class="error" role="alert">${error}</p>` : null}
    ${
      images === undefined
        ? html`<p>Loading…</p>`
        : html`<div class="table-wrap"><table><thead><tr><th scope="col">Alias</th><th scope="col">Fingerprint</th><th scope="col">Description</th><th scope="col">Size</th><th scope="col">Uploaded</th></tr></thead>
        <tbody>${images.map(
          (
            i,
          ) => html`<tr key=${i.fingerprint}><th scope="row">${imageLabel(i)}</th><td><code>${i.fingerprint.slice(0, 12)}</code></td>
          <td>${i.properties?.description ?? ""}</td><td>${i.size ? bytes(i.size) : "–"}</td><td>${i.uploaded_at.startsWith("1970") ? "built in" : new Date(i.uploaded_at).toLocaleString()}</td></tr>`,
        )}</tbody></table></div>`
    }
  </section>`;
}
