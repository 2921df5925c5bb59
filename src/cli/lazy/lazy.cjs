/**
 * A stand-in for a built-in module that loads it on first use: one getter
 * per exported name. The CLI bundle is built with `node:child_process`,
 * `node:net` and `node:tty` aliased to such stand-ins (package.json,
 * build:ts; tty for isatty(3), see ../output.ts): commander
 * requires child_process as it loads, which with net, dgram and the stream
 * classes costs ~2-3 ms on every command, and `ls` or `info` spawn nothing.
 * Named imports keep working: the bundle reads `module.name` where it calls
 * it. test/unit/lazy-builtins.test.ts checks each stand-in names every export.
 */
module.exports = function lazy(load, names) {
  let real;
  const out = {};
  for (const name of names) {
    Object.defineProperty(out, name, {
      enumerable: true,
      get: () => {
        real ??= load();
        return real[name];
      },
    });
  }
  return out;
};
