/** Placeholder replaced below. */
import type { ContainerPaths } from "../container/paths.js";
import { LxtError } from "../core/errors.js";
import type { Link, SendOptions } from "./migrate.js";

export async function sendRunning(
  link: Link,
  paths: ContainerPaths,
  _opts: SendOptions,
): Promise<void> {
  throw new LxtError("state", `${link.what}: ${paths.name} is running (stop it first)`);
}
