/** What `info` shows of a container's user namespace (docs/security.md). */

import { readFileSync } from "node:fs";
import { type IdmapLine, parseIdmapLine, sliceMap } from "../config/idmap.js";
import { ConfigDocument } from "../config/write.js";
import type { ContainerPaths } from "./paths.js";
import type { RuntimePlan } from "./runtime-cgroups.js";

/** What `info` says about a container's user namespace. */
export interface UsernsInfo {
  /** `privileged`, or the map as `u 0 1000000 65536, g 0 1000000 65536`. */
  idmap: string;
  /** How the rootfs ownership fits the map: `idmapped` (mount), `shifted` (on disk) or `host` (privileged). */
  ownership: "idmapped" | "shifted" | "host" | "unknown";
}

const showMap = (m: readonly IdmapLine[]) =>
  m.map((l) => `${l.kind} ${l.nsid} ${l.hostid} ${l.range}`).join(", ");

/**
 * From the running plan when there is one (what the container really got),
 * else from the config (what the next start uses; a slice not allocated yet
 * says so).
 */
export function usernsInfo(paths: ContainerPaths, plan: RuntimePlan | undefined): UsernsInfo {
  if (plan !== undefined) {
    const map = (plan.records.get("idmap") ?? []).map((f) => parseIdmapLine(f.join(" ")));
    const idmapped = plan.records.has("idmapped-mount") || plan.records.has("block-mount");
    if (map.length === 0) return { idmap: "privileged", ownership: "host" };
    return { idmap: showMap(map), ownership: idmapped ? "idmapped" : "shifted" };
  }
  let doc: ConfigDocument;
  try {
    doc = ConfigDocument.parse(readFileSync(paths.config, "utf8"), paths.config);
  } catch {
    return { idmap: "unknown", ownership: "unknown" };
  }
  const lines = doc.getAll("lxc.idmap").filter((v) => v !== "");
  const priv = doc.get("lxt.privileged");
  const shifted = (doc.get("lxt.volatile.rootfs.shift") ?? "") !== "";
  const ownership = shifted ? "shifted" : "idmapped";
  if (lines.length > 0) return { idmap: lines.join(", "), ownership };
  if (priv === "0" || priv === "false") {
    const base = doc.get("lxt.volatile.idmap.base");
    const idmap = base
      ? showMap(sliceMap(Number(base)))
      : "a slice of root's subordinate ids, allocated at the first start";
    return { idmap, ownership };
  }
  return { idmap: "privileged", ownership: "host" };
}
