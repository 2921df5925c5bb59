/** `node:child_process`, loaded on first use (see lazy.cjs). */
module.exports = require("./lazy.cjs")(
  // biome-ignore lint/style/useNodejsImportProtocol: the bundle aliases node:child_process to this file
  () => require("child_process"),
  [
    "_forkChild",
    "ChildProcess",
    "exec",
    "execFile",
    "execFileSync",
    "execSync",
    "fork",
    "spawn",
    "spawnSync",
  ],
);
