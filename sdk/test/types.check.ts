/**
 * Type-level checks, compiled by `npm run typecheck` (never run): the SDK's
 * endpoint types are the daemon's own — its zod schemas for request bodies,
 * the return types of the functions that build its answers — so a change on
 * either side that the other does not follow fails the typecheck. And the
 * SDK refuses misuse at compile time.
 */
import type { Readable } from "node:stream";
import type { z } from "zod";
import type { backupJson } from "../../src/api/backup-store.js";
import type { instanceJson, instanceState } from "../../src/api/instance-view.js";
import type { Operation } from "../../src/api/operations.js";
import type { fullInstance } from "../../src/api/routes/instances.js";
import type {
  instanceConsolePost,
  instanceExecPost,
  instanceStatePut,
  instancesPost,
} from "../../src/api/schemas.js";
import type { snapshotJson } from "../../src/api/snapshot-store.js";
import type { Endpoints, LxdClient } from "../src/index.js";

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type Body<K extends keyof Endpoints> = Endpoints[K]["body"];
type Answer<K extends keyof Endpoints> = Endpoints[K]["response"];

export type RequestBodiesAreTheDaemonsSchemas = [
  Expect<Equal<Body<"POST /1.0/instances/:name/exec">, z.infer<typeof instanceExecPost>>>,
  Expect<Equal<Body<"POST /1.0/instances/:name/console">, z.infer<typeof instanceConsolePost>>>,
  Expect<Equal<Body<"PUT /1.0/instances/:name/state">, z.infer<typeof instanceStatePut>>>,
  Expect<
    Equal<
      Exclude<Body<"POST /1.0/instances">, Readable | Buffer | string>,
      z.infer<typeof instancesPost>
    >
  >,
];

export type AnswersAreWhatTheDaemonBuilds = [
  Expect<
    Equal<Answer<"GET /1.0/instances/:name/state">, Awaited<ReturnType<typeof instanceState>>>
  >,
  Expect<
    Equal<
      Answer<"GET /1.0/instances/:name/snapshots/:snap">,
      Awaited<ReturnType<typeof snapshotJson>>
    >
  >,
  Expect<Equal<Answer<"GET /1.0/instances/:name/backups/:backup">, ReturnType<typeof backupJson>>>,
  Expect<Equal<Answer<"GET /1.0/operations/:id">, ReturnType<Operation["json"]>>>,
  Expect<
    Equal<
      Answer<"GET /1.0/instances/:name">,
      Awaited<ReturnType<typeof instanceJson>> | Awaited<ReturnType<typeof fullInstance>>
    >
  >,
];

declare const c: LxdClient;
export async function misuseIsRefused(): Promise<void> {
  await c.request("POST /1.0/instances/:name/exec", {
    params: { name: "c1" },
    // @ts-expect-error: a field the daemon's schema refuses
    body: { command: ["ls"], bogus: true },
  });
  // @ts-expect-error: the path parameter is missing
  await c.request("GET /1.0/instances/:name", {});
  // @ts-expect-error: not an endpoint of lxtd
  await c.request("GET /1.0/nothing");
  // @ts-expect-error: start takes an instance name, not a body
  await c.instances.start({ name: "c1" });
  // A body-less endpoint needs no options at all:
  await c.request("GET /1.0/instances");
}
