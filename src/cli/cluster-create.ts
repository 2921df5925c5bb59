/**
 * `lxt launch/create --target MEMBER`: the create goes through the local
 * lxtd (a cluster member), which forwards it to MEMBER as LXD's `POST
 * /1.0/instances?target=MEMBER`; this waits for the operation to end.
 */
import { daemonOperation, daemonSocket } from "./lxtd-client.js";

/** What a create through the daemon makes. */
export interface ClusterCreate {
  name: string;
  member: string;
  /** An image alias or fingerprint (busybox included); undefined: an empty container. */
  image?: string;
  start: boolean;
}

/** Creates (and starts) a container on `c.member` through the lxtd of `lxcpath`. */
export async function createOnMember(lxcpath: string, c: ClusterCreate): Promise<void> {
  const socket = daemonSocket(lxcpath);
  const what = `--target ${c.member}`;
  await daemonOperation(
    socket,
    what,
    "POST",
    `/1.0/instances?target=${encodeURIComponent(c.member)}`,
    {
      name: c.name,
      source: c.image === undefined ? { type: "none" } : { type: "image", alias: c.image },
      start: c.start,
    },
    "the create failed",
  );
}
