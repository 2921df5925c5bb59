/**
 * The `lxc.net.N.*` part of config resolution: networks are indexed, their
 * type must come before type-specific keys, and sub-keys of `empty` and
 * `none` networks are ignored with a warning.
 */

import { configError } from "../core/errors.js";
import type { ContainerConfig } from "./model.js";
import type { ConfigEntry } from "./parse.js";

/** One network while its entries are being read. */
export interface NetState {
  index: number;
  type?: string;
  typeAt?: ConfigEntry;
  first: ConfigEntry;
  keys: Map<string, string[]>;
}

export function applyNet(
  nets: Map<number, NetState>,
  e: ConfigEntry,
  net: { index: number; sub: string; requiresType?: string },
): Map<number, NetState> {
  const { index, sub } = net;
  let state = nets.get(index);
  if (sub === "type" && e.value === "") {
    nets.delete(index);
    return nets;
  }
  if (!state) {
    state = { index, first: e, keys: new Map() };
    nets.set(index, state);
  }
  if (sub === "type") {
    state.type = e.value;
    state.typeAt = e;
    return nets;
  }
  if (e.value === "") {
    state.keys.delete(sub);
    return nets;
  }
  if (net.requiresType && state.type !== net.requiresType) {
    throw configError(
      e.file,
      e.line,
      `${e.key} needs lxc.net.${index}.type = ${net.requiresType} before it`,
    );
  }
  const list = state.keys.get(sub) ?? [];
  state.keys.set(sub, isListNetKey(sub) ? [...list, e.value] : [e.value]);
  return nets;
}

function isListNetKey(sub: string): boolean {
  return sub.endsWith(".address") || sub.endsWith(".route") || sub === "veth.vlan.tagged.id";
}

/** Fills cfg.nets; returns warnings. */
export function finishNets(cfg: ContainerConfig, nets: Map<number, NetState>): string[] {
  const warnings: string[] = [];
  for (const state of [...nets.values()].sort((a, b) => a.index - b.index)) {
    const at = state.typeAt;
    if (state.type === undefined || !at) {
      throw configError(
        state.first.file,
        state.first.line,
        `lxc.net.${state.index} has no type: set lxc.net.${state.index}.type first`,
      );
    }
    const keys = Object.fromEntries(state.keys);
    cfg.nets.push({
      index: state.index,
      type: state.type,
      up: keys.flags?.[0] === "up",
      keys,
      file: at.file,
      line: at.line,
    });
    if (state.type !== "empty" && state.type !== "none") continue;
    const extra = [...state.keys.keys()].filter((k) => k !== "flags");
    if (extra.length > 0) {
      const reason = `${extra.map((k) => `lxc.net.${state.index}.${k}`).join(", ")} ignored for a network of type ${state.type}`;
      warnings.push(`${at.file}:${at.line}: ${reason}`);
    }
  }
  return warnings;
}
