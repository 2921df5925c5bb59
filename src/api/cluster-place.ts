/**
 * Where a new instance goes when the client names no member: the least
 * loaded online member, by running containers first and free memory next.
 * Loads read from the members' records (their last heartbeat).
 */
import type { MemberView } from "./types.js";

/** Free memory within this share of the larger counts as the same (one reading is noisy). */
const MEMORY_MARGIN = 0.1;

/**
 * The member to place on among `members`: online ones only; fewer running
 * containers wins; at equal running, more free memory wins when it differs
 * by more than `MEMORY_MARGIN`; a tie goes to `self` (the member asked: no
 * hop), then to the first name. An evacuated member takes none. Undefined
 * when no member is online and not evacuated.
 */
export function leastLoaded(members: readonly MemberView[], self: string): MemberView | undefined {
  const better = (a: MemberView, b: MemberView): boolean => {
    if (a.load.running !== b.load.running) return a.load.running < b.load.running;
    const fa = a.load.memory_free;
    const fb = b.load.memory_free;
    if (Math.abs(fa - fb) > MEMORY_MARGIN * Math.max(fa, fb)) return fa > fb;
    if (a.name === self || b.name === self) return a.name === self;
    return a.name < b.name;
  };
  let best: MemberView | undefined;
  for (const m of members) {
    if (m.online && !m.evacuated && (!best || better(m, best))) best = m;
  }
  return best;
}
