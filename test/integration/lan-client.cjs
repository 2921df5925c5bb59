// A TCP client for the counter server of migrate-lan.test.ts and bench/migrate.sh:
// connects to HOST PORT, sends a line 20 ms after each reply and prints
// "MS REPLY" per reply (MS: Date.now()), "ERR message" or "CLOSED" when the
// connection ends, and exits when its stdin closes.
"use strict";
const net = require("node:net");
const [host, port] = process.argv.slice(2);
const s = net.connect(Number(port), host);
s.setNoDelay(true);
let buf = "";
const send = () => s.write("x\n");
s.on("connect", send);
s.on("data", (d) => {
  buf += d;
  for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
    process.stdout.write(`${Date.now()} ${buf.slice(0, i)}\n`);
    buf = buf.slice(i + 1);
    setTimeout(send, 20);
  }
});
s.on("error", (e) => {
  process.stdout.write(`ERR ${e.message}\n`);
  process.exit(2);
});
s.on("close", () => {
  process.stdout.write("CLOSED\n");
  process.exit(3);
});
process.stdin.on("end", () => {
  s.destroy();
  process.exit(0);
});
process.stdin.resume();
