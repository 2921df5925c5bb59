/**
 * lxtd's web UI: a hash-routed single page (`#/`, `#/i/NAME`, `#/networks`,
 * `#/images`) over the LXD API of the daemon that serves it.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { setLoggedOutHandler } from "./api.js";
import { html } from "./html.js";
import { store } from "./store.js";
import { ImagesView } from "./views/images.js";
import { InstanceView } from "./views/instance.js";
import { InstancesView } from "./views/instances.js";
import { NetworksView } from "./views/networks.js";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const f = () => setHash(location.hash);
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  return hash;
}

function App() {
  const hash = useHash();
  const [loggedOut, setLoggedOut] = useState(false);
  useEffect(() => {
    setLoggedOutHandler(() => {
      // Nothing more to ask for: every request would be refused.
      store.stop();
      setLoggedOut(true);
    });
    store.start();
    return () => store.stop();
  }, []);
  const path = hash.replace(/^#/, "") || "/";
  const inst = /^\/i\/([^/]+)(?:\/(\w+))?$/.exec(path);
  let view: ReturnType<typeof html>;
  let title = "Instances";
  if (inst?.[1]) {
    const name = decodeURIComponent(inst[1]);
    title = name;
    view = html`<${InstanceView} name=${name} tab=${inst[2] ?? "overview"} />`;
  } else if (path === "/networks") {
    title = "Networks";
    view = html`<${NetworksView} />`;
  } else if (path === "/images") {
    title = "Images";
    view = html`<${ImagesView} />`;
  } else view = html`<${InstancesView} />`;
  useEffect(() => {
    document.title = `${title} · lxt`;
  }, [title]);
  const nav = (href: string, label: string, on: boolean) =>
    html`<a href=${href} aria-current=${on ? "page" : undefined}>${label}</a>`;
  return html`
    <a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault();
      document.getElementById("main")?.focus();
    }}>Skip to content</a>
    <header>
      <span class="brand">lxt</span>
      <nav aria-label="Main">
        ${nav("#/", "Instances", !inst && path !== "/networks" && path !== "/images")}
        ${nav("#/networks", "Networks", path === "/networks")}
        ${nav("#/images", "Images", path === "/images")}
      </nav>
      <form method="post" action="/ui/logout" class="logout">
        <button type="submit">Log out</button>
      </form>
    </header>
    ${
      loggedOut
        ? html`<p class="banner" role="alert">
            Your session has ended. <a href="/ui/login">Log in again</a> with a new token from
            <code>lxt ui</code>.
          </p>`
        : null
    }
    <main id="main" tabindex="-1">${view}</main>
  `;
}

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(html`<${App} />`, root);
}
