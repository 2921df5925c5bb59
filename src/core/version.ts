import pkg from "../../package.json" with { type: "json" };

/**
 * The commit lxt was built from, baked in by `npm run build`
 * (esbuild `--define`, scripts/build-id.sh: `git rev-parse`, with `-dirty`
 * when tracked files differ from it, or `$LXT_COMMIT`). Unbuilt code (tests
 * under tsx) and a build outside a git checkout say `unknown`.
 */
declare const __LXT_COMMIT__: string | undefined;

/** lxt's version: package.json's `version`, the one source of it (the .deb's too). */
export const VERSION: string = pkg.version;

/** The commit of this build, or `unknown`. */
export const COMMIT: string = typeof __LXT_COMMIT__ === "string" ? __LXT_COMMIT__ : "unknown";

/** What `lxt --version` and `lxtd --version` print after the program's name. */
export const VERSION_LINE = `${VERSION} (commit ${COMMIT})`;
