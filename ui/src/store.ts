/**
 * The live picture of the instances: one list (`recursion=2`: config and
 * state) fetched at start, again for an instance whose lifecycle event
 * arrives on the events websocket, and polled while the page is visible
 * (CPU, memory and network move without events). A poll costs the daemon
 * in proportion to the instances (it reads each one's cgroups, NICs and
 * addresses), so the next one waits POLL_MS, or LOAD_FACTOR times as long
 * as the last one took when that is longer: the page keeps lxtd busy for at
 * most 1/LOAD_FACTOR of the time, however many instances there are. Each
 * poll adds a sample per running instance to its history, which the charts
 * and the list's rates read: the last HISTORY samples.
 */

import type { LxdEvent } from "../../src/api/events.js";
import type { InstanceJson, InstanceState as StateJson } from "../../src/api/types.js";
import { get, wsUrl } from "./api.js";

export type InstanceState = StateJson;
export interface Snapshot {
  name: string;
  created_at: string;
  expires_at?: string;
}
export type Instance = InstanceJson & { state: InstanceState; snapshots: Snapshot[] | null };

export interface Sample {
  t: number;
  cpuNs: number;
  mem: number;
  rx: number;
  tx: number;
}

export const POLL_MS = 5000;
export const LOAD_FACTOR = 50;
export const HISTORY = 120;

type Listener = () => void;

class Store {
  instances = new Map<string, Instance>();
  history = new Map<string, Sample[]>();
  loaded = false;
  error = "";
  connected = false;
  /** The wait before the next poll, as last worked out. */
  pollMs = POLL_MS;
  private polling = false;
  private stopped = false;
  private listeners = new Set<Listener>();
  private timer?: ReturnType<typeof setTimeout>;
  private ws?: WebSocket;
  private pending = new Set<string>();
  private flush?: ReturnType<typeof setTimeout>;
  private eventHandlers = new Set<(e: LxdEvent) => void>();

  subscribe(f: Listener): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  onEvent(f: (e: LxdEvent) => void): () => void {
    this.eventHandlers.add(f);
    return () => this.eventHandlers.delete(f);
  }

  private changed(): void {
    for (const f of this.listeners) f();
  }

  start(): void {
    void this.poll();
    this.connect();
    document.addEventListener("visibilitychange", () => {
      if (
        document.visibilityState === "visible" &&
        this.timer === undefined &&
        !this.polling &&
        !this.stopped
      )
        void this.poll();
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    ws?.close();
  }

  /** One poll, then the next after POLL_MS or LOAD_FACTOR × what this one took; none while hidden. */
  private async poll(): Promise<void> {
    this.timer = undefined;
    this.polling = true;
    const t = performance.now();
    await this.refresh();
    this.polling = false;
    this.pollMs = Math.max(POLL_MS, Math.round((performance.now() - t) * LOAD_FACTOR));
    if (this.stopped || document.visibilityState !== "visible") return;
    this.timer = setTimeout(() => void this.poll(), this.pollMs);
  }

  /** The whole list, as lxtd has it now. */
  async refresh(): Promise<void> {
    try {
      const list = await get<Instance[]>("/1.0/instances?recursion=2", "list instances");
      const next = new Map<string, Instance>();
      for (const i of list) next.set(i.name, i);
      this.instances = next;
      for (const name of this.history.keys()) if (!next.has(name)) this.history.delete(name);
      const t = Date.now();
      for (const i of list) this.sample(i, t);
      this.error = "";
    } catch (err) {
      this.error = (err as Error).message;
    }
    this.loaded = true;
    this.changed();
  }

  /** One instance again (after its event); gone when lxtd says 404. */
  async refreshOne(name: string): Promise<void> {
    try {
      const i = await get<Instance>(`/1.0/instances/${encodeURIComponent(name)}?recursion=1`);
      this.instances.set(name, i);
      this.instances = new Map(this.instances);
    } catch (err) {
      if ((err as { status?: number }).status === 404) {
        this.instances.delete(name);
        this.instances = new Map(this.instances);
        this.history.delete(name);
      }
    }
    this.changed();
  }

  private sample(i: Instance, t: number): void {
    if (i.status !== "Running" || !i.state) return;
    let rx = 0;
    let tx = 0;
    for (const [nic, n] of Object.entries(i.state.network ?? {})) {
      if (nic === "lo") continue;
      const c = (n as { counters?: { bytes_received: number; bytes_sent: number } }).counters;
      rx += c?.bytes_received ?? 0;
      tx += c?.bytes_sent ?? 0;
    }
    const h = this.history.get(i.name) ?? [];
    h.push({ t, cpuNs: i.state.cpu.usage, mem: i.state.memory.usage, rx, tx });
    if (h.length > HISTORY) h.splice(0, h.length - HISTORY);
    this.history.set(i.name, h);
  }

  /** The events stream: lifecycle events refresh their instance (batched per tick). */
  private connect(): void {
    const ws = new WebSocket(wsUrl("/1.0/events?type=lifecycle,operation"));
    this.ws = ws;
    ws.onopen = () => {
      this.connected = true;
      this.changed();
    };
    ws.onmessage = (m) => {
      const e = JSON.parse(String(m.data)) as LxdEvent;
      for (const f of this.eventHandlers) f(e);
      if (e.type !== "lifecycle") return;
      const source = String((e.metadata as { source?: string }).source ?? "");
      const name = /^\/1\.0\/instances\/([^/]+)/.exec(source)?.[1];
      if (!name) return;
      this.pending.add(decodeURIComponent(name));
      this.flush ??= setTimeout(() => {
        this.flush = undefined;
        const names = [...this.pending];
        this.pending.clear();
        for (const n of names) void this.refreshOne(n);
      }, 50);
    };
    ws.onclose = () => {
      this.connected = false;
      this.changed();
      // Back again after a moment (a restarted daemon, a dropped connection), unless stopped.
      if (this.ws === ws) setTimeout(() => this.ws === ws && this.connect(), 2000);
    };
  }
}

export const store = new Store();

/** CPU use (in CPUs: 1 = one core busy) over the last two samples. */
export function cpuRate(h: Sample[] | undefined): number | undefined {
  const a = h?.[h.length - 2];
  const b = h?.[h.length - 1];
  if (!a || !b || b.t <= a.t) return undefined;
  return (b.cpuNs - a.cpuNs) / 1e6 / (b.t - a.t);
}

/** Network bytes per second (received + sent) over the last two samples. */
export function netRate(h: Sample[] | undefined): number | undefined {
  const a = h?.[h.length - 2];
  const b = h?.[h.length - 1];
  if (!a || !b || b.t <= a.t) return undefined;
  return ((b.rx - a.rx + (b.tx - a.tx)) * 1000) / (b.t - a.t);
}

/** The instance's global IPv4 addresses. */
export function ipv4(i: Instance): string[] {
  const out: string[] = [];
  for (const [nic, n] of Object.entries(i.state?.network ?? {})) {
    if (nic === "lo") continue;
    for (const a of (n as { addresses: { family: string; address: string; scope: string }[] })
      .addresses)
      if (a.family === "inet" && a.scope === "global") out.push(a.address);
  }
  return out;
}
