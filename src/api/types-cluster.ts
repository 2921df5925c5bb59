/**
 * The cluster's wire types: LXD's cluster endpoints and lxt's member
 * records in etcd; part of the wire types of types.ts, which re-exports
 * them. No runtime imports.
 */

// ── Cluster ───────────────────────────────────────────────────────────────

/** `GET /1.0/cluster` (LXD's api.Cluster). */
export interface ClusterJson {
  server_name: string;
  enabled: boolean;
  member_config: unknown[];
}

/** LXD's api.ClusterMember. */
export interface ClusterMemberJson {
  server_name: string;
  url: string;
  database: boolean;
  status: "Online" | "Offline" | "Evacuated";
  message: string;
  roles: string[];
  architecture: string;
  failure_domain: string;
  description: string;
  config: Record<string, string>;
  groups: string[];
}

/** What a member reports of itself at each heartbeat. */
export interface MemberLoad {
  containers: number;
  running: number;
  cpus: number;
  /** The 1-minute load average. */
  load1: number;
  memory_free: number;
  memory_total: number;
}

/** `/lxt/members/NAME`. */
export interface MemberRecord {
  name: string;
  /** The URL other members and clients reach its HTTPS API at. */
  address: string;
  /** sha256 of its HTTPS server certificate (how members will trust one another). */
  fingerprint: string;
  architecture: string;
  load: MemberLoad;
  /** When it last wrote this record (ISO 8601). */
  heartbeat: string;
}

/** A member as the list shows it: its record and whether its lease is alive. */
export interface MemberView extends MemberRecord {
  online: boolean;
  /** Evacuated (or being evacuated): it takes no placements (cluster-evacuate.ts). */
  evacuated?: boolean;
}
