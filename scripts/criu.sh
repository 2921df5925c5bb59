#!/usr/bin/env bash
# CRIU for `lxt checkpoint`/`lxt restore` (docs/checkpoint.md), run as root by
# setup.sh or on its own. Debian 12's criu 3.17.1 cannot run on kernels from
# 6.13 ("vdso: Unexpected rt vDSO area bounds": the [vvar_vclock] mapping,
# handled from CRIU 4.1), and 4.1 (Debian 13's) dumps no TCP or UDP socket
# on kernels from 6.16 ("sockets: Can't get 1:16 opt: Operation not
# supported": SO_PASSCRED is AF_UNIX's only since, fixed in 4.2). So when the
# host's own criu is older than 4.2 or fails `criu check`, this builds Debian
# forky's source package on Debian 12, once, and installs the binary as
# /usr/local/sbin/criu (LXT_CRIU_DEST).
#
# Idempotent and fast on a re-run: a working criu ≥ 4.2 on PATH is kept; a
# build already in the cache (/var/cache/lxt/criu-VERSION) is installed from
# there without the network. The source comes through a private apt
# configuration (its own sources list naming Debian 13's deb-src, its own
# state, lists and cache in a temporary directory): the system's sources are
# never read or changed. The orig tarball's sha256 is checked against the
# signed Sources index (and the .dsc, when the mirror serves it: registry
# proxies may serve only the tarball); it is built as upstream ships it
# (`make criu`), without Debian's patches. Every failure says which step failed.
set -euo pipefail

want_major=4 want_minor=2
suite=${LXT_CRIU_SUITE:-forky}
mirror=${LXT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_root=${LXT_CRIU_CACHE:-/var/cache/lxt}
dest=${LXT_CRIU_DEST:-/usr/local/sbin/criu}
# The build dependencies Debian 12 has (second-wave facts: `make criu` needs no more).
build_deps=(gcc make libc6-dev pkg-config libbsd-dev libcap-dev libgnutls28-dev libnet1-dev
  libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev protobuf-c-compiler protobuf-compiler uuid-dev python3)

step=start
fail() {
  echo "criu.sh: $step: $*" >&2
  exit 1
}
trap 'rc=$?; [ $rc -eq 0 ] || echo "criu.sh: failed at step \"$step\" (exit $rc)" >&2' EXIT

[ "$(id -u)" -eq 0 ] || fail "run as root"

# "Version: 4.2.1" → 0 when MAJOR.MINOR is at least the wanted one.
new_enough() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/^Version: *\([0-9][0-9.]*\).*/\1/p' | head -n1)
  [ -n "$v" ] || return 1
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt "$want_major" ] || { [ "$major" -eq "$want_major" ] && [ "${minor:-0}" -ge "$want_minor" ]; }
}
works() { new_enough "$1" && "$1" check >/dev/null 2>&1; }

step="look for a working criu"
if have=$(command -v criu 2>/dev/null) && works "$have"; then
  echo "criu: $have $("$have" --version | sed -n 's/^Version: *//p') passes \`criu check\`"
  exit 0
fi

# A build from an earlier run: the newest cached version that works.
step="install from the cache"
for bin in $(ls -d "$cache_root"/criu-*/criu 2>/dev/null | sort -rV); do
  if works "$bin"; then
    install -D -m 755 "$bin" "$dest"
    echo "criu: installed $dest from $bin"
    exit 0
  fi
done

step="install the build dependencies"
missing=()
for p in "${build_deps[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq || fail "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/lxt-criu-deps.log 2>&1 || {
    tail -n 20 /tmp/lxt-criu-deps.log >&2
    fail "apt-get install ${missing[*]}"
  }
  rm -f /tmp/lxt-criu-deps.log
fi

work=$(mktemp -d /tmp/lxt-criu-XXXXXX)
trap 'rc=$?; rm -rf "$work"; [ $rc -eq 0 ] || echo "criu.sh: failed at step \"$step\" (exit $rc)" >&2' EXIT

step="fetch the source of $suite's criu (private apt configuration)"
apt_dir=$work/apt
mkdir -p "$apt_dir"/lists/partial "$apt_dir"/cache/archives/partial "$apt_dir"/state "$apt_dir"/parts "$work/src"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || fail "no $keyring (package debian-archive-keyring)"
echo "deb-src [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State=$apt_dir/state" -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::State::status=/var/lib/dpkg/status" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" -qq update >"$work/apt.log" 2>&1 || {
  cat "$work/apt.log" >&2
  fail "apt-get update of $mirror $suite (deb-src)"
}
# apt-get update exits 0 when a mirror cannot be reached: the index must be there.
ls "$apt_dir"/lists/*_Sources* >/dev/null 2>&1 || {
  grep -E '^(E|W):' "$work/apt.log" | tail -n 5 >&2
  fail "no Sources index for $suite came from $mirror (set LXT_DEBIAN_MIRROR to a reachable Debian mirror)"
}
# The files and their sha256 as the signed Sources index lists them.
apt-get "${apt_opts[@]}" -qq --print-uris source criu >"$work/uris" 2>>"$work/apt.log" ||
  fail "apt-get source --print-uris criu: $(tail -n1 "$work/apt.log")"
# Some mirrors (registry proxies) serve only the orig tarball: a missing
# .dsc or Debian tarball is fine, the orig tarball is what is built.
(cd "$work/src" && apt-get "${apt_opts[@]}" -qq source --download-only criu >>"$work/apt.log" 2>&1) || true

step="check the source's sha256"
orig=$(ls "$work"/src/criu_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n1)
[ -n "$orig" ] || {
  tail -n 5 "$work/apt.log" >&2
  fail "the orig tarball of criu did not come down from $mirror"
}
base=$(basename "$orig")
upstream=${base#criu_}
upstream=${upstream%.orig.tar.*}
# " 'URI' NAME SIZE SHA256:HEX" from --print-uris; the .dsc's Checksums-Sha256 when it came too.
want_sha=$(awk -v f="$base" '$2 == f {sub(/^SHA256:/, "", $4); print $4}' "$work/uris")
[ -n "$want_sha" ] || fail "$base is not in $suite's Sources index"
got_sha=$(sha256sum "$orig" | cut -d' ' -f1)
[ "$got_sha" = "$want_sha" ] || fail "$base: sha256 $got_sha, $suite's Sources index says $want_sha"
dsc=$(ls "$work"/src/criu_*.dsc 2>/dev/null | head -n1 || true)
if [ -n "$dsc" ]; then
  dsc_sha=$(awk -v f="$base" '/^Checksums-Sha256:/ {s=1; next} /^[^ ]/ {s=0} s && $3 == f {print $1}' "$dsc")
  [ "$dsc_sha" = "$got_sha" ] || fail "$base: sha256 $got_sha, $(basename "$dsc") says ${dsc_sha:-nothing}"
fi
debver=$(awk -v f="$base" '$2 ~ /\.dsc$/ {v=$2; sub(/^criu_/, "", v); sub(/\.dsc$/, "", v); print v}' "$work/uris")
echo "criu: $base sha256 $got_sha matches $suite's index${dsc:+ and $(basename "$dsc")}"

step="unpack criu $upstream"
mkdir -p "$work/src/tree"
tar -xf "$orig" -C "$work/src/tree" --strip-components=1 || fail "tar -xf $base"

step="build criu $upstream"
jobs=$(nproc 2>/dev/null || echo 2)
make -C "$work/src/tree" -j"$jobs" criu >"$work/build.log" 2>&1 || {
  tail -n 30 "$work/build.log" >&2
  fail "make criu (the last 30 lines above)"
}
built=$work/src/tree/criu/criu
[ -x "$built" ] || fail "make criu made no criu/criu"
new_enough "$built" || fail "the build says $("$built" --version | head -n1), want ≥ $want_major.$want_minor"

step="cache and install criu $upstream"
cache=$cache_root/criu-$upstream
mkdir -p "$cache"
install -m 755 "$built" "$cache/criu.tmp" && mv "$cache/criu.tmp" "$cache/criu"
printf '%s\n' "$debver" >"$cache/debian-version"
install -D -m 755 "$cache/criu" "$dest"

step="criu check"
"$dest" check || fail "$dest check failed on this kernel (see above)"
echo "criu: installed $dest ($debver, built from $suite's source, cached in $cache)"
