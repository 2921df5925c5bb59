/**
 * `GET /1.0/metrics`: Prometheus text of every running instance
 * (src/container/metrics-text.ts, shared with `lxt metrics`).
 *
 * `?view=cli` (with `name=` once per container) answers the text `lxt
 * metrics` prints, as the CLI would sample it itself (`scrapeText`): its
 * launcher asks here first (native/src/lxtd-metrics.c), since this
 * process's scrape is warm and keeps the cgroup files open. Not LXD's.
 */
import type { FastifyInstance } from "fastify";
import { scrapeMetrics, scrapeText } from "../../container/metrics.js";
import { collectSamples, renderMetrics } from "../../container/metrics-text.js";
import { checkName } from "../../core/names.js";
import type { Daemon } from "../daemon.js";

export function registerMetricsRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/1.0/metrics", async (req, reply) => {
    const query = req.query as { view?: string; name?: string | string[] };
    if (query.view === "cli") {
      const names = ([] as string[]).concat(query.name ?? []).map((n) => checkName(n));
      return reply.type("text/plain").send(await scrapeText(d.ctx, names));
    }
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
