/** `node:tty`, loaded on first use (see lazy.cjs): it loads net and the stream classes. */
module.exports = require("./lazy.cjs")(
  // biome-ignore lint/style/useNodejsImportProtocol: the bundle aliases node:tty to this file
  () => require("tty"),
  ["isatty", "ReadStream", "WriteStream"],
);
