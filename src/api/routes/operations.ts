/** `/1.0/operations`: list, get, wait, cancel. */
import type { FastifyInstance } from "fastify";
import type { Daemon } from "../daemon.js";
import { ApiError, badRequest, syncBody } from "../envelope.js";
import type { Operation } from "../operations.js";
import { recursion } from "./params.js";

function find(d: Daemon, id: string): Operation {
  const op = d.operations.get(id);
  if (!op) throw new ApiError(404, "Operation not found");
  return op;
}

export function registerOperationRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/1.0/operations", async (req) => {
    const deep = recursion(req) > 0;
    const byStatus: Record<string, unknown[]> = {};
    for (const op of d.operations.list()) {
      const key = op.status.toLowerCase();
      const list = byStatus[key] ?? [];
      byStatus[key] = list;
      list.push(deep ? op.json() : op.url);
    }
    return syncBody(byStatus);
  });
  app.get<{ Params: { id: string } }>("/1.0/operations/:id", async (req) =>
    syncBody(find(d, req.params.id).json()),
  );
  app.delete<{ Params: { id: string } }>("/1.0/operations/:id", async (req) => {
    const op = find(d, req.params.id);
    if (!d.operations.cancel(op)) throw badRequest("This operation can't be cancelled");
    return syncBody({});
  });
  app.get<{ Params: { id: string }; Querystring: { timeout?: string } }>(
    "/1.0/operations/:id/wait",
    async (req) => {
      const op = find(d, req.params.id);
      const raw = req.query.timeout ?? "-1";
      if (!/^-?\d+$/.test(raw)) throw badRequest(`bad timeout "${raw}"`);
      const seconds = Number(raw);
      if (!op.final) {
        let timer: NodeJS.Timeout | undefined;
        const closed = new Promise<void>((r) => req.raw.once("close", () => r()));
        await Promise.race([
          op.done,
          closed,
          ...(seconds >= 0
            ? [
                new Promise<void>((r) => {
                  timer = setTimeout(r, seconds * 1000);
                }),
              ]
            : []),
        ]);
        clearTimeout(timer);
      }
      return syncBody(op.json());
    },
  );
}
