/** `/`, `/1.0` (the server and its environment) and `/1.0/resources`. */
import { readFileSync } from "node:fs";
import { cpus, freemem, totalmem, uptime } from "node:os";
import type { FastifyInstance } from "fastify";
import { VERSION } from "../../core/version.js";
import type { Daemon } from "../daemon.js";
import { syncBody } from "../envelope.js";
import { API_EXTENSIONS } from "../extensions.js";
import type { ServerJson, ServerPublic } from "../types.js";

function osRelease(): { name: string; version: string } {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, "m").exec(text)?.[1] ?? "";
    return { name: get("NAME"), version: get("VERSION_ID") };
  } catch {
    return { name: "", version: "" };
  }
}

function kernel(): { release: string; arch: string } {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8").trim();
    } catch {
      return "";
    }
  };
  return {
    release: read("/proc/sys/kernel/osrelease"),
    arch: process.arch === "x64" ? "x86_64" : process.arch,
  };
}

export function registerServerRoutes(app: FastifyInstance, d: Daemon): void {
  app.get("/", async () => syncBody(["/1.0"]));
  app.get("/1.0", async (req) => {
    const os = osRelease();
    const k = kernel();
    const base: ServerPublic = {
      // LXD shows its extensions to untrusted clients too: they pick paths by them.
      api_extensions: API_EXTENSIONS,
      api_status: "stable",
      api_version: "1.0",
      auth: req.trusted ? "trusted" : "untrusted",
      auth_methods: ["tls"],
      public: false,
    };
    if (!req.trusted) return syncBody(base);
    const full: ServerJson = {
      ...base,
      config: d.config.public(),
      environment: {
        addresses: d.addresses(),
        architectures: [k.arch],
        certificate: d.certificate(),
        certificate_fingerprint: d.fingerprint(),
        driver: "lxt",
        driver_version: VERSION,
        firewall: "nftables",
        kernel: "Linux",
        kernel_architecture: k.arch,
        kernel_features: {},
        kernel_version: k.release,
        lxc_features: {},
        os_name: os.name,
        os_version: os.version,
        project: "default",
        server: "lxt",
        server_clustered: d.cluster !== undefined,
        server_event_mode: "full-mesh",
        server_name: d.cluster?.member ?? d.serverName,
        server_pid: d.serverPid,
        server_version: VERSION,
        storage: "dir",
        storage_version: "1",
        storage_supported_drivers: [
          { Name: "dir", Version: "1", Remote: false },
          { Name: "btrfs", Version: "", Remote: false },
        ],
      },
    };
    return syncBody(full);
  });
  const patch = async (req: { body: unknown; method: string }) => {
    const body = (req.body ?? {}) as { config?: Record<string, unknown> };
    const next = d.config.plan(body.config ?? {}, req.method === "PUT");
    // The listener moves first: an address it cannot take is refused, and nothing is kept.
    const address = next["core.https_address"];
    if (d.https && address !== d.config.get("core.https_address")) await d.https.listen(address);
    d.config.commit(next);
    return syncBody({});
  };
  app.patch("/1.0", patch);
  app.put("/1.0", patch);
  app.get("/1.0/resources", async () => {
    const list = cpus();
    return syncBody({
      cpu: {
        architecture: kernel().arch,
        total: list.length,
        sockets: [
          {
            socket: 0,
            name: list[0]?.model ?? "",
            cores: list.map((c, i) => ({
              core: i,
              threads: [{ id: i, thread: 0, online: true }],
              frequency: c.speed,
            })),
          },
        ],
      },
      memory: { used: totalmem() - freemem(), total: totalmem() },
      system: { uptime: uptime() },
    });
  });
}
