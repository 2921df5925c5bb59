/** `node:net`, loaded on first use (see lazy.cjs). */
module.exports = require("./lazy.cjs")(
  // biome-ignore lint/style/useNodejsImportProtocol: the bundle aliases node:net to this file
  () => require("net"),
  [
    "_createServerHandle",
    "_normalizeArgs",
    "_setSimultaneousAccepts",
    "BlockList",
    "SocketAddress",
    "connect",
    "createConnection",
    "createServer",
    "isIP",
    "isIPv4",
    "isIPv6",
    "Server",
    "Socket",
    "Stream",
    "getDefaultAutoSelectFamily",
    "setDefaultAutoSelectFamily",
    "getDefaultAutoSelectFamilyAttemptTimeout",
    "setDefaultAutoSelectFamilyAttemptTimeout",
  ],
);
