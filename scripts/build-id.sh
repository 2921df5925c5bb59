#!/bin/sh
# The commit a build is made from, as a JavaScript string for esbuild's
# --define (src/core/version.ts): $LXT_COMMIT when set (a build from a
# tarball whose commit is known), else git's short hash with -dirty when
# tracked files differ from it, else "unknown" (not a git checkout).
set -eu
cd "$(dirname "$0")/.."
id=${LXT_COMMIT:-}
if [ -z "$id" ] && id=$(git rev-parse --short=12 HEAD 2>/dev/null); then
  git diff --quiet HEAD -- 2>/dev/null || id="$id-dirty"
fi
case "$id" in '' | *[!0-9a-zA-Z._-]*) id=unknown ;; esac
printf '"%s"' "$id"
