/** Every route module of lxtd, registered on each listener's app. */
import type { FastifyInstance } from "fastify";
import { registerClusterForward } from "../cluster-forward.js";
import { registerClusterImages } from "../cluster-images.js";
import { registerClusterTokenRoutes } from "../cluster-tokens.js";
import type { Daemon } from "../daemon.js";
import { registerBackupRoutes } from "./backups.js";
import { registerCertificateRoutes } from "./certificates.js";
import { registerClusterRoutes } from "./cluster.js";
import { registerClusterEvacuateRoutes } from "./cluster-evacuate.js";
import { registerClusterRemoveRoutes } from "./cluster-remove.js";
import { registerConsoleRoutes } from "./console.js";
import { registerExecRoutes } from "./exec.js";
import { registerFileRoutes } from "./files.js";
import { registerImageRoutes } from "./images.js";
import { registerInstanceEditRoutes } from "./instance-edit.js";
import { registerInstanceRoutes } from "./instances.js";
import { registerLogRoutes } from "./logs.js";
import { registerMetricsRoutes } from "./metrics.js";
import { registerMigrationRoutes } from "./migrations.js";
import { registerForwardRoutes } from "./network-forwards.js";
import { registerNetworkRoutes } from "./networks.js";
import { registerOperationRoutes } from "./operations.js";
import { registerProfileRoutes } from "./profiles.js";
import { registerServerRoutes } from "./server.js";
import { registerSnapshotRoutes } from "./snapshots.js";
import { registerStorageRoutes } from "./storage.js";
import { registerUiRoutes } from "./ui.js";

export type RouteModule = (app: FastifyInstance, d: Daemon) => void;

export const ROUTES: readonly RouteModule[] = [
  registerServerRoutes,
  registerOperationRoutes,
  registerInstanceRoutes,
  registerImageRoutes,
  registerExecRoutes,
  registerConsoleRoutes,
  registerLogRoutes,
  registerCertificateRoutes,
  registerFileRoutes,
  registerInstanceEditRoutes,
  registerProfileRoutes,
  registerStorageRoutes,
  registerNetworkRoutes,
  registerForwardRoutes,
  registerMetricsRoutes,
  registerSnapshotRoutes,
  registerBackupRoutes,
  registerMigrationRoutes,
  registerUiRoutes,
  registerClusterRoutes,
  registerClusterForward,
  registerClusterImages,
  registerClusterTokenRoutes,
  registerClusterEvacuateRoutes,
  registerClusterRemoveRoutes,
];
