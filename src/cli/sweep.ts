import type { Context } from "../core/context.js";

/**
 * Before `ls`, `create`, `copy` and `import`: removes what a killed lxt left
 * half-made in the state root and says so on stderr.
 */
export async function sweepAndReport(ctx: Context, lxcpath = ctx.lxcpath): Promise<void> {
  const { sweepIncomplete } = await import("../container/incomplete.js");
  for (const s of await sweepIncomplete(ctx, lxcpath)) {
    const by = s.pid ? ` by pid ${s.pid}, which died` : "";
    const what =
      s.what === "staging"
        ? `stale staging directory ${s.name}`
        : `incomplete container ${s.name} (${s.what}${by})`;
    process.stderr.write(`lxt: removed ${what}\n`);
  }
}
