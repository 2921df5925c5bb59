import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { Context } from "../core/context.js";
import { LxtError } from "../core/errors.js";
import { type ContainerPaths, requireExists } from "./paths.js";
import { observe, requireState } from "./state.js";

/**
 * Connects to tty `ttyNum` of a running container (0 = the console) through
 * its monitor and resolves with a socket carrying raw terminal bytes.
 */
export async function openConsole(
  ctx: Context,
  paths: ContainerPaths,
  ttyNum: number,
): Promise<Socket> {
  requireExists(paths, "console");
  requireState("console", paths.name, observe(ctx, paths).state);
  const sock = connect(join(paths.runtimeDir, "control.sock"));
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      sock.off("data", onData);
      const answer = buf.subarray(0, nl).toString();
      const rest = buf.subarray(nl + 1);
      if (answer === "ok") {
        if (rest.length > 0) sock.unshift(rest);
        resolve(sock);
      } else {
        sock.destroy();
        const why =
          answer === "busy"
            ? "another client is attached"
            : answer === "none"
              ? "no such tty"
              : answer;
        reject(new LxtError("state", `console ${paths.name}: tty ${ttyNum}: ${why}`));
      }
    };
    sock.on("data", onData);
    sock.once("error", (e) =>
      reject(new LxtError("system", `console ${paths.name}: ${e.message}`, e)),
    );
    sock.once("connect", () => sock.write(`console ${ttyNum}\n`));
  });
}
