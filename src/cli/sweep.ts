/**
 * Before `ls`, `create`, `copy` and `import`: removes what a killed lxt left
 * half-made in the state root and says so on stderr.
 */
export async function sweepAndReport(lxcpath: string): Promise<void> {
  const { sweepIncomplete } = await import("../container/incomplete.js");
  for (const s of await sweepIncomplete(lxcpath)) {
    const by = s.pid ? ` by pid ${s.pid}, which died` : "";
    const what =
      s.what === "staging"
        ? `stale staging directory ${s.name}`
        : `incomplete container ${s.name} (${s.what}${by})`;
    process.stderr.write(`lxt: removed ${what}\n`);
  }
}
