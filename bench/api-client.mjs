// The HTTP side of bench/api.sh: times requests to lxtd over its unix socket from inside one
// Node process (so no client start-up is counted), as the stock client drives them: an async
// verb's request, then a wait on its operation. Every sample is checked after its timing (the
// operation's status, the state reached, the count listed); a failed one is reported on stderr
// and left out.
//
// Usage: node bench/api-client.mjs SOCKET start NAME... | stop NAME... |
//          list R EXPECT | exec NAME R | bulk PREFIX N CONCURRENCY | creates PREFIX N CONCURRENCY |
//          starts PREFIX N CONCURRENCY | delete NAME...
// Prints one line per sample: `start NAME T0 T_ACCEPTED T_DONE` (epoch ms), `list MS`,
// `exec MS T0 T_ACCEPTED T_DONE`, `bulk|creates|starts N SECONDS FAILED`.
import { Agent, request } from "node:http";

const [socketPath, cmd, ...args] = process.argv.slice(2);
const agent = new Agent({ socketPath, keepAlive: true, maxSockets: 64 });
const now = () => performance.timeOrigin + performance.now();

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        agent,
        method,
        path,
        headers: data ? { "Content-Type": "application/json" } : {},
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString()));
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

async function waitOp(r) {
  if (r.type !== "async") throw new Error(r.error || "not an operation");
  const w = await call("GET", `${r.operation}/wait?timeout=120`);
  const op = w.metadata;
  if (op?.status !== "Success") throw new Error(op?.err || `operation ${op?.status}`);
  return op;
}

async function setState(name, action) {
  const t0 = now();
  const r = await call("PUT", `/1.0/instances/${name}/state`, { action, force: true });
  const t1 = now();
  await waitOp(r);
  const t2 = now();
  const st = await call("GET", `/1.0/instances/${name}/state`);
  const want = action === "start" ? "Running" : "Stopped";
  if (st.metadata?.status !== want) throw new Error(`${name} is ${st.metadata?.status}`);
  return [t0, t1, t2];
}

async function createStart(name) {
  await waitOp(
    await call("POST", "/1.0/instances", { name, source: { type: "image", alias: "busybox" } }),
  );
  await setState(name, "start");
}

/** `fn` on PREFIX0 … PREFIX(N-1), CONC at once; the number that failed (each one said on stderr). */
async function pool(prefix, n, conc, fn) {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < names.length) {
        const name = names[next++];
        await fn(name).catch((e) => {
          failed++;
          console.error(`bench/api: ${name}: ${e.message}`);
        });
      }
    }),
  );
  return failed;
}

async function main() {
  // A client already running and connected, as a daemon's caller is: the connection and this
  // process's lazy loading (the HTTP parser, JSON) are paid before any timed request.
  await call("GET", "/1.0");
  switch (cmd) {
    case "start":
    case "stop":
      for (const n of args) {
        try {
          const [t0, t1, t2] = await setState(n, cmd);
          console.log(`${cmd} ${n} ${t0.toFixed(3)} ${t1.toFixed(3)} ${t2.toFixed(3)}`);
        } catch (e) {
          console.error(`bench/api: ${cmd} ${n}: ${e.message}`);
        }
      }
      break;
    case "list": {
      const [rounds, expect] = args.map(Number);
      for (let i = 0; i < rounds; i++) {
        const t0 = now();
        const r = await call("GET", "/1.0/instances?recursion=2");
        const ms = now() - t0;
        const running = (r.metadata ?? []).filter((x) => x.state?.status === "Running").length;
        if (running !== expect) console.error(`bench/api: list: ${running} running, not ${expect}`);
        else console.log(`list ${ms.toFixed(3)}`);
      }
      break;
    }
    case "exec": {
      // `true` in a running instance to its exit code: LXD's exec without websockets (a task
      // operation whose final metadata carries `return`), as a script or a CI runner calls it.
      const [name, rounds] = [args[0], Number(args[1])];
      for (let i = 0; i < rounds; i++) {
        const t0 = now();
        const r = await call("POST", `/1.0/instances/${name}/exec`, {
          command: ["true"],
          "wait-for-websocket": false,
          interactive: false,
          "record-output": false,
        });
        const t1 = now();
        try {
          const op = await waitOp(r);
          const t2 = now();
          const ms = t2 - t0;
          if (op.metadata?.return !== 0)
            console.error(`bench/api: exec: return ${op.metadata?.return}`);
          else
            console.log(`exec ${ms.toFixed(3)} ${t0.toFixed(3)} ${t1.toFixed(3)} ${t2.toFixed(3)}`);
        } catch (e) {
          console.error(`bench/api: exec ${name}: ${e.message}`);
        }
      }
      break;
    }
    case "bulk": {
      const [prefix, n, conc] = [args[0], Number(args[1]), Number(args[2])];
      const t0 = now();
      const failed = await pool(prefix, n, conc, createStart);
      console.log(`bulk ${n} ${((now() - t0) / 1000).toFixed(3)} ${failed}`);
      break;
    }
    case "creates":
    case "starts": {
      // One phase of the bulk alone (bench/bulk-cpu.sh measures each one's CPU):
      // N creates, or N starts of instances made before, CONCURRENCY at once.
      const [prefix, n, conc] = [args[0], Number(args[1]), Number(args[2])];
      const one =
        cmd === "creates"
          ? async (name) =>
              waitOp(
                await call("POST", "/1.0/instances", {
                  name,
                  source: { type: "image", alias: "busybox" },
                }),
              )
          : (name) => setState(name, "start");
      const t0 = now();
      const failed = await pool(prefix, n, conc, one);
      console.log(`${cmd} ${n} ${((now() - t0) / 1000).toFixed(3)} ${failed}`);
      break;
    }
    case "delete":
      await Promise.all(
        args.map(async (n) => {
          const s = await call("PUT", `/1.0/instances/${n}/state`, { action: "stop", force: true });
          if (s.type === "async") await waitOp(s).catch(() => {});
          await waitOp(await call("DELETE", `/1.0/instances/${n}`)).catch(() => {});
        }),
      );
      break;
    default:
      throw new Error(`unknown command ${cmd}`);
  }
  agent.destroy();
}

main().catch((e) => {
  console.error(`bench/api: ${e.message}`);
  process.exit(1);
});
