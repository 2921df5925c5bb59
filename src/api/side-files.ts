/**
 * The files lxtd keeps beside an LXC config (a container's `lxd.yaml`, a
 * snapshot's `lxd-snapshot.yaml`): what an export carries and an import or
 * a move to another host brings along.
 */

/** A snapshot's LXD side file (its expiry, creation time). */
export const SNAPSHOT_META = "lxd-snapshot.yaml";

/** lxtd's side files an export carries beside each config. */
export const SIDE_FILES = ["lxd.yaml", SNAPSHOT_META] as const;
