/** Every route module of lxtd, registered on each listener's app. */
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { registerBackupRoutes } from "./backups.js";
import { registerCertificateRoutes } from "./certificates.js";
import { registerFileRoutes } from "./files.js";
import { registerImageRoutes } from "./images.js";
import { registerInstanceRoutes } from "./instances.js";
import { registerOperationRoutes } from "./operations.js";
import { registerServerRoutes } from "./server.js";
import { registerSnapshotRoutes } from "./snapshots.js";

export type RouteModule = (app: FastifyInstance, d: Daemon) => void;

export const ROUTES: readonly RouteModule[] = [
  registerServerRoutes,
  registerOperationRoutes,
  registerInstanceRoutes,
  registerImageRoutes,
  registerCertificateRoutes,
  registerFileRoutes,
  registerSnapshotRoutes,
  registerBackupRoutes,
];
