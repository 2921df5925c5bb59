/**
 * A confirmation as a modal `<dialog>`: focus moves into it and stays
 * there, Escape cancels, and the focused element gets focus back after.
 * Resolves true only when the action button is pressed.
 */
export function confirmAction(title: string, text: string, action: string): Promise<boolean> {
  return new Promise((resolve) => {
    const back = document.activeElement as HTMLElement | null;
    const dlg = document.createElement("dialog");
    dlg.className = "confirm";
    dlg.setAttribute("aria-labelledby", "confirm-title");
    dlg.setAttribute("aria-describedby", "confirm-text");
    const form = document.createElement("form");
    form.method = "dialog";
    const h = document.createElement("h2");
    h.id = "confirm-title";
    h.textContent = title;
    const p = document.createElement("p");
    p.id = "confirm-text";
    p.textContent = text;
    const row = document.createElement("div");
    row.className = "row";
    const cancel = document.createElement("button");
    cancel.value = "cancel";
    cancel.textContent = "Cancel";
    const ok = document.createElement("button");
    ok.value = "ok";
    ok.className = "danger";
    ok.textContent = action;
    row.append(cancel, ok);
    form.append(h, p, row);
    dlg.append(form);
    document.body.append(dlg);
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok");
      dlg.remove();
      back?.focus();
    });
    dlg.showModal();
    cancel.focus();
  });
}
