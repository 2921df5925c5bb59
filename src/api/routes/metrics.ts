/** `GET /1.0/metrics`: Prometheus text of every running instance (src/container/metrics-text.ts, shared with `lxt metrics`). */
import type { FastifyInstance } from "fastify";
import { scrapeMetrics } from "../../container/metrics.js";
import { collectSamples, renderMetrics } from "../../container/metrics-text.js";
import type { Daemon } from "../daemon.js";

export function registerMetricsRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/1.0/metrics", async (_req, reply) => {
    // One listing of the state root: the scrape counts the instances it went through.
    const scrape = await scrapeMetrics(d.ctx);
    const text = renderMetrics(
      collectSamples(scrape.running, {
        instances: scrape.instances,
        operations: d.operations.list().filter((o) => !o.final).length,
        uptimeSeconds: (d.ctx.host.clock.now() - d.startedAt) / 1000,
      }),
    );
    // LXD answers plain text; `lxc query` falls back to printing it when it is not JSON.
    return reply.type("text/plain").send(text);
  });
}
