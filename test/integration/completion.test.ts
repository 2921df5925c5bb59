import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { completionScripts } from "../../scripts/completion/write.js";
import { lxtCommand } from "../../scripts/man/pages.js";
import { visibleCommands } from "../../scripts/man/roff.js";
import { hasCmd, LXT, NetnsSandbox, netnsSkip, REPO, skipReason } from "./harness.js";

const skip = skipReason() ?? netnsSkip();

/**
 * Shell completion driven as the shells drive it, over real containers in a
 * temporary state root: bash's function with COMP_WORDS/COMP_CWORD set, zsh's
 * with `words`/`CURRENT` and compadd recorded, fish's `complete -C`.
 */
describe("shell completion", { skip: skip ?? false }, () => {
  const sb = new NetnsSandbox("cmpl");
  const running = sb.name("run");
  const stopped = sb.name("stp");
  const net = sb.network("cn");
  const alias = `img${sb.tag}`;
  let dir = "";
  const env = () => ({ ...process.env, LXT_PATH: sb.lxcpath });

  before(() => {
    sb.open();
    dir = mkdtempSync(join(tmpdir(), "lxt-completion-"));
    for (const [file, text] of Object.entries(completionScripts()))
      writeFileSync(join(dir, file), text);
    sb.ok(["network", "create", net]);
    sb.ok(["create", "-n", running, "-t", "busybox", "--network", "empty"]);
    sb.ok(["start", "-n", running]);
    sb.ok(["create", "-n", stopped, "-t", "busybox", "--network", "empty"]);
    sb.ok(["snapshot", "-n", stopped]);
    sb.ok(["image", "import", "--builtin", "busybox", "--alias", alias]);
  });
  after(() => {
    sb.ok(["image", "delete", alias]);
    sb.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** COMPREPLY for LINE (the cursor at its end; a trailing space starts a new word). */
  const bash = (line: string): string[] => {
    const words = line.split(" ");
    words[0] = LXT;
    const script = [
      `source ${join(dir, "lxt.bash")}`,
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")})`,
      `COMP_CWORD=${words.length - 1}`,
      "_lxt",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's own expansion
      'printf "%s\\n" "${COMPREPLY[@]}"',
    ].join("\n");
    const r = spawnSync("bash", ["-c", script], { encoding: "utf8", env: env() });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean).sort();
  };

  test("verbs (every verb of the program), subcommands and flags", () => {
    const verbs = visibleCommands(lxtCommand()).flatMap((v) => [v.name(), ...v.aliases()]);
    assert.deepEqual(bash("lxt "), [...verbs].sort());
    assert.ok(!bash("lxt ").includes("__complete"), "the hidden verb is not offered");
    assert.deepEqual(bash("lxt sta"), ["start"]);
    const network = visibleCommands(lxtCommand()).find((v) => v.name() === "network");
    const subs = visibleCommands(network as NonNullable<typeof network>).flatMap((s) => [
      s.name(),
      ...s.aliases(),
    ]);
    assert.ok(subs.includes("create"));
    assert.deepEqual(bash("lxt network "), subs.sort());
    assert.deepEqual(bash("lxt start --f"), ["--foreground"]);
    assert.deepEqual(bash("lxt info --format "), ["json", "text"]);
  });

  test("containers by state: stopped ones for start, running ones for stop and attach", () => {
    assert.deepEqual(bash("lxt start "), [stopped]);
    assert.deepEqual(bash("lxt start -n "), [stopped]);
    assert.deepEqual(bash("lxt stop "), [running]);
    assert.deepEqual(bash("lxt stop --name = "), [running]);
    assert.deepEqual(bash("lxt attach -n "), [running]);
    assert.deepEqual(bash("lxt attach "), [running]);
    assert.deepEqual(bash(`lxt attach ${running} -- `), []);
    assert.deepEqual(bash("lxt info "), [running, stopped].sort());
    assert.deepEqual(bash(`lxt info -n ${running} `), [], "the container is given");
  });

  test("snapshots, images, networks and config keys", () => {
    assert.deepEqual(bash(`lxt snapshot -n ${stopped} -r `), ["snap0"]);
    assert.deepEqual(bash(`lxt snapshot ${stopped} -d `), ["snap0"]);
    assert.ok(bash("lxt create -t ").includes(alias));
    assert.ok(bash("lxt create -t ").includes("busybox"));
    assert.deepEqual(bash("lxt image delete img"), [alias]);
    assert.deepEqual(bash("lxt network show "), [net]);
    assert.ok(bash("lxt create --network ").includes(net));
    assert.deepEqual(bash(`lxt config set ${stopped} lxc.uts.`), ["lxc.uts.name"]);
    assert.ok(bash(`lxt config get ${stopped} lxt.limits.`).includes("lxt.limits.memory"));
    assert.ok(bash(`lxt config set ${stopped} lxc.net.`).includes("lxc.net.0.type"));
  });

  test("__complete: names without the CLI bundle, the other kinds by the full verb", () => {
    const node = (loader: string, args: string[]) =>
      spawnSync("node", [loader, "__complete", ...args], { encoding: "utf8", env: env() });
    // The loader and the completion entry alone: what they answer needs no bundle.
    const alone = mkdtempSync(join(tmpdir(), "lxt-completion-alone-"));
    try {
      for (const f of ["lxt.cjs", "lxt-complete.cjs"])
        copyFileSync(join(REPO, "dist", f), join(alone, f));
      const loader = join(alone, "lxt.cjs");
      // [KIND [CONTAINER]], the state root flags, the words wanted
      const cases: [string[], string[], string][] = [
        [["containers"], [], `${[running, stopped].sort().join("\n")}\n`],
        [["running"], [], `${running}\n`],
        [["stopped"], ["-P", sb.lxcpath], `${stopped}\n`],
        [["snapshots", stopped], [`--lxcpath=${sb.lxcpath}`], "snap0\n"],
        [["networks"], [], `${net}\n`],
      ];
      for (const [words, flags, want] of cases) {
        const r = node(loader, [...words, ...flags]);
        assert.equal(r.status, 0, `${words.join(" ")}: ${r.stderr}`);
        assert.equal(r.stdout, want, words.join(" "));
        // The full verb (`--` is a line only it takes) says the same.
        const full = node(join(REPO, "dist", "lxt.cjs"), [...flags, "--", ...words]);
        assert.equal(full.status, 0, `-- ${words.join(" ")}: ${full.stderr}`);
        assert.equal(full.stdout, want, `-- ${words.join(" ")}`);
      }
      // Keys are the full verb's: without the bundle beside the loader it cannot start.
      assert.notEqual(node(loader, ["keys"]).status, 0);
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
    const bad = node(join(REPO, "dist", "lxt.cjs"), ["nosuchkind"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown kind "nosuchkind"/);
  });

  test("-P on the line is the state root asked", () => {
    const other = mkdtempSync(join(tmpdir(), "lxt-completion-root-"));
    try {
      assert.deepEqual(bash(`lxt info -P ${other} `), []);
      assert.deepEqual(bash(`lxt info -P ${sb.lxcpath} `), [running, stopped].sort());
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  test("zsh: the same answers through compadd", {
    skip: hasCmd("zsh") ? false : "SKIP: no zsh",
  }, () => {
    const zsh = (line: string): string[] => {
      const words = line.split(" ");
      words[0] = LXT;
      const script = [
        // compadd and the file completers recorded: outside a widget they do nothing.
        // zsh matches what compadd is given against the word's PREFIX itself.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's own expansions
        'compadd() { local -a c; if [[ $1 == -a ]]; then c=(${(P)2}); else [[ $1 == -- ]] && shift; c=("$@"); fi; print -l -- ${(M)c:#${PREFIX}*} }',
        "compset() { return 0 }",
        `source ${join(dir, "_lxt")}`,
      ].join("\n");
      const call = `words=(${words.map((w) => `'${w}'`).join(" ")}); CURRENT=${words.length}; PREFIX='${words.at(-1)}'; _lxt`;
      // Sourcing runs `_lxt "$@"` once with no words: harmless, its output is dropped.
      const r = spawnSync("zsh", ["-f", "-c", `${script} >/dev/null\n${call}`], {
        encoding: "utf8",
        env: env(),
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split("\n").filter(Boolean).sort();
    };
    assert.deepEqual(zsh("lxt sta"), ["start"]);
    assert.deepEqual(zsh("lxt start "), [stopped]);
    assert.deepEqual(zsh("lxt stop -n "), [running]);
    assert.deepEqual(zsh(`lxt snapshot -n ${stopped} -r `), ["snap0"]);
    assert.deepEqual(zsh("lxt network show "), [net]);
  });

  test("fish: complete -C", { skip: hasCmd("fish") ? false : "SKIP: no fish" }, () => {
    const fish = (line: string): string[] => {
      const r = spawnSync(
        "fish",
        ["-c", `source ${join(dir, "lxt.fish")}; complete -C '${line.replace(/^lxt/, LXT)}'`],
        {
          encoding: "utf8",
          env: env(),
        },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t")[0] as string)
        .sort();
    };
    assert.ok(fish("lxt sta").includes("start"));
    assert.deepEqual(fish("lxt start "), [stopped]);
    assert.deepEqual(fish("lxt stop "), [running]);
    assert.deepEqual(fish("lxt network show "), [net]);
    // Each positional at its place: the key after the container, nothing after info's one name.
    assert.deepEqual(fish(`lxt config set ${stopped} lxc.uts.`), ["lxc.uts.name"]);
    assert.deepEqual(fish(`lxt config set -P ${sb.lxcpath} ${stopped} lxc.uts.`), ["lxc.uts.name"]);
    assert.deepEqual(fish(`lxt info ${running} `), []);
    assert.deepEqual(fish(`lxt info -n ${running} `), [], "the container is given");
    assert.deepEqual(fish(`lxt attach ${running} -- `), []);
    assert.deepEqual(fish(`lxt snapshot -n ${stopped} -r `), ["snap0"]);
  });
});
