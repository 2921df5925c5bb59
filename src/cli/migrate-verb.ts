/** What `lxt move` and `lxt copy NAME REMOTE:` share: the target parsed, the link made, the send run. */
import { sendContainer } from "../api/migrate-send.js";
import { LxtError } from "../core/errors.js";
import { checkName } from "../core/names.js";
import { target } from "./common.js";
import { cliCaller } from "./context.js";
import { writeOut } from "./output.js";
import { withProgress } from "./progress.js";
import { findRemote, localIdentity, remoteRequest, waitRemoteOperation } from "./remote.js";

/** `REMOTE:[NEWNAME]` → the remote's name and the new name (default `name`), or undefined when `dest` names no remote. */
export function parseRemoteTarget(
  dest: string,
  name: string,
): { remote: string; newName: string } | undefined {
  const i = dest.indexOf(":");
  if (i < 0) return undefined;
  const remote = dest.slice(0, i);
  const newName = dest.slice(i + 1) || name;
  if (remote === "") {
    throw new LxtError("usage", `"${dest}": no remote before ':' (REMOTE:[NEWNAME])`);
  }
  return { remote, newName: checkName(newName) };
}

/** Runs a move or copy of `name` to `dest` (`REMOTE:[NEWNAME]`). */
export async function remoteTransfer(
  verb: "move" | "copy",
  name: string,
  dest: string,
  opts: {
    lxcpath?: string;
    stateful?: boolean;
    lazy?: boolean;
    quiet?: boolean;
    verbose?: boolean;
  },
): Promise<void> {
  const { ctx, paths } = target(opts, name);
  const where = parseRemoteTarget(dest, paths.name);
  if (!where) {
    throw new LxtError(
      "usage",
      `${verb}: "${dest}" names no remote: give REMOTE:[NEWNAME] (lxt remote list)`,
    );
  }
  const what = `${verb} ${paths.name} to ${where.remote}:${where.newName}`;
  const remote = findRemote(ctx.lxcpath, where.remote, what);
  const id = localIdentity(ctx.lxcpath);
  const r = await withProgress(opts, (progress) =>
    sendContainer(
      {
        ctx,
        to: `remote ${remote.name}`,
        what,
        request: (call) => remoteRequest(remote, id, what, call),
        wait: (operation) => waitRemoteOperation(remote, id, what, operation),
      },
      paths,
      {
        newName: where.newName,
        move: verb === "move",
        stateful: !!opts.stateful,
        lazy: !!opts.lazy,
        progress,
        caller: cliCaller(),
      },
    ),
  );
  if (opts.verbose) {
    const down =
      r.downtimeMs === undefined
        ? ""
        : `, stopped for ${Math.round(r.downtimeMs)} ms; ${r.stoppedBytes ?? 0} bytes sent while stopped${r.pagesMs === undefined ? "" : `; its memory came over in ${Math.round(r.pagesMs)} ms after it ran there`}`;
    const by = r.transport && r.transport !== "archive" ? ` by ${r.transport} send` : "";
    writeOut(
      `${verb === "move" ? "moved" : "copied"} ${paths.name} to ${where.remote}:${where.newName} (${r.bytes} bytes sent${by}${down})\n`,
    );
  }
}
