/**
 * Detection of other firewalls that would drop a managed network's routed
 * traffic: base chains on the forward hook, in tables lxt does not own, with
 * a drop policy (Docker sets iptables' `filter FORWARD` policy to DROP;
 * iptables-nft shows it in the nftables ruleset as table ip filter, chain
 * FORWARD). Read only: lxt never changes another table. An accept rule in
 * lxt's own table would not help, since every base chain on a hook must
 * accept a packet (see docs/networking.md), so the fix is the user's.
 */
import type { CommandRunner } from "../host/runner.js";
import type { NetworkDef } from "./render.js";

interface NftChain {
  family?: string;
  table?: string;
  name?: string;
  hook?: string;
  policy?: string;
}

/** Forward-hook base chains with policy drop in tables not named `lxt-*` (pure, from `nft -j list ruleset`). */
export function droppingForwardChains(rulesetJson: string): string[] {
  let items: Array<{ chain?: NftChain }> = [];
  try {
    items = (JSON.parse(rulesetJson) as { nftables?: Array<{ chain?: NftChain }> }).nftables ?? [];
  } catch {
    return [];
  }
  return items.flatMap(({ chain: c }) => {
    if (c?.hook !== "forward" || c.policy !== "drop") return [];
    if (c.table?.startsWith("lxt-") || !["ip", "inet", "ip6"].includes(c.family ?? "")) return [];
    return [`${c.family} ${c.table} ${c.name}`];
  });
}

/** The whole ruleset as `nft -j list ruleset` prints it ("" when nft cannot list). */
export function listRuleset(runner: CommandRunner): Promise<string> {
  return runner.run("nft", ["-j", "list", "ruleset"]).catch(() => "");
}

/** Warnings for `def` from a listing (empty when nothing would drop its forwarded traffic). */
export function policyWarnings(def: NetworkDef, rulesetJson: string): string[] {
  return droppingForwardChains(rulesetJson).map(
    (chain) =>
      `network ${def.name}: the forward chain "${chain}" has policy drop: traffic routed to or from bridge ${def.name} (NAT, port forwards) is dropped unless that chain accepts it (for Docker: iptables -I DOCKER-USER -i ${def.name} -j ACCEPT and -o ${def.name} -j ACCEPT); lxt does not change other tables`,
  );
}

/** Warnings for `def` (empty when nothing would drop its forwarded traffic, or nft cannot list). */
export async function forwardPolicyWarnings(
  def: NetworkDef,
  runner: CommandRunner,
): Promise<string[]> {
  return policyWarnings(def, await listRuleset(runner));
}
