/** Every route module of lxtd, registered on each listener's app. */
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { registerConsoleRoutes } from "./console.js";
import { registerExecRoutes } from "./exec.js";
import { registerImageRoutes } from "./images.js";
import { registerInstanceRoutes } from "./instances.js";
import { registerLogRoutes } from "./logs.js";
import { registerOperationRoutes } from "./operations.js";
import { registerServerRoutes } from "./server.js";

export type RouteModule = (app: FastifyInstance, d: Daemon) => void;

export const ROUTES: readonly RouteModule[] = [
  registerServerRoutes,
  registerOperationRoutes,
  registerInstanceRoutes,
  registerImageRoutes,
  registerExecRoutes,
  registerConsoleRoutes,
  registerLogRoutes,
];
