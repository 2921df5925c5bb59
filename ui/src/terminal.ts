/**
 * A terminal in the browser (xterm.js) on an operation's websockets: an
 * interactive exec (`sh`) or the instance's console. Stream `0` carries the
 * bytes both ways; `control` gets `window-resize` whenever the terminal's
 * size changes (the element is fitted to its box, which follows the window).
 * Loaded only when a terminal opens: xterm.js is most of the UI's bytes.
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { call, waitOperation, wsUrl } from "./api.js";

export type TerminalKind = "exec" | "console";

export interface TerminalHandle {
  close(): void;
}

interface Fds {
  fds: Record<string, string>;
}

function openSocket(op: string, secret: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(`${op}/websocket?secret=${encodeURIComponent(secret)}`));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error("the operation's websocket did not open"));
  });
}

/**
 * Opens a terminal into `el`. `onEnd` gets a line to show when the session
 * ends (the command's exit code, or the error in words).
 */
export async function openTerminal(
  el: HTMLElement,
  name: string,
  kind: TerminalKind,
  onEnd: (why: string) => void,
): Promise<TerminalHandle> {
  const term = new Terminal({
    cursorBlink: true,
    fontSize: 14,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace",
    scrollback: 2000,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const path = `/1.0/instances/${encodeURIComponent(name)}/${kind}`;
  const body =
    kind === "exec"
      ? {
          command: ["sh"],
          environment: { TERM: "xterm-256color" },
          interactive: true,
          "wait-for-websocket": true,
          width: term.cols,
          height: term.rows,
        }
      : { type: "console", width: term.cols, height: term.rows };
  let env: Awaited<ReturnType<typeof call<Fds>>>;
  try {
    env = await call<Fds>(`${kind} ${name}`, "POST", path, body);
  } catch (err) {
    term.dispose();
    throw err;
  }
  const op = env.operation;
  const fds = (env.metadata as unknown as { metadata: Fds }).metadata.fds;
  // Both at once: lxtd starts the command once its streams are connected (or after 5 s without).
  const [data, control] = await Promise.all([
    openSocket(op, fds["0"] ?? ""),
    openSocket(op, fds.control ?? ""),
  ]);
  const enc = new TextEncoder();
  data.onmessage = (m) => {
    if (m.data instanceof ArrayBuffer) term.write(new Uint8Array(m.data));
    else term.write(String(m.data));
  };
  const input = term.onData((d) => {
    if (data.readyState === WebSocket.OPEN) data.send(enc.encode(d));
  });
  const resize = term.onResize(({ cols, rows }) => {
    if (control.readyState === WebSocket.OPEN)
      control.send(
        JSON.stringify({
          command: "window-resize",
          args: { width: String(cols), height: String(rows) },
        }),
      );
  });
  const observer = new ResizeObserver(() => fit.fit());
  observer.observe(el);
  term.focus();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    observer.disconnect();
    input.dispose();
    resize.dispose();
    data.close();
    control.close();
  };
  if (kind === "exec") {
    waitOperation(op, `exec in ${name}`).then(
      (done) => {
        close();
        onEnd(
          `[the shell ended with exit code ${String((done.metadata as { return?: number } | null)?.return ?? "?")}]`,
        );
      },
      (err: Error) => {
        close();
        onEnd(`[${err.message}]`);
      },
    );
  } else {
    data.onclose = () => {
      close();
      onEnd("[the console was detached]");
    };
  }
  return {
    close() {
      close();
      term.dispose();
    },
  };
}
