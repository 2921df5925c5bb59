# Sourced by the bench scripts (run.sh, limits.sh, net.sh, storage.sh): the common preamble and
# the cleanup helpers. Set BENCH_TAG (the prefix of messages, e.g. bench/net) before sourcing.
# Never sends traffic and never makes a network by itself.

# lxt refuses to make a managed network in the host's network namespace (src/network/manage.ts).
export LXT_NO_HOST_NETWORK=1
export LC_ALL=C
BENCH_TAG=${BENCH_TAG:-bench}
# LXT=CMD: the lxt command, may hold words ("node dist/lxt.cjs"); default lxt
read -r -a LXT <<< "${LXT:-lxt}"
# lxt's launcher unsets it too; it costs node ~85 ms per start (anchors/RESULTS.md)
unset NODE_EXTRA_CA_CERTS NODE_OPTIONS

die() { echo "$BENCH_TAG: $*" >&2; exit 1; }
warn() { echo "$BENCH_TAG: WARNING: $*" >&2; }
quiet() { "$@" >/dev/null 2>&1; }
# `command`: the default LXT is "lxt", this function's own name. net.sh redefines lxt and lxc to
# run inside its namespace.
lxt() { command "${LXT[@]}" "$@"; }
# lxc VERB ARGS...: lxc-VERB on the bench's lxcpath ($LXCP)
lxc() { local v=$1; shift; "lxc-$v" -P "$LXCP" "$@"; }

# bench_positive VALUE MESSAGE: die with MESSAGE unless VALUE is a positive integer
bench_positive() { [[ $1 =~ ^[1-9][0-9]*$ ]] || die "$2"; }
bench_need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root"; }
# bench_need CMD...: die naming the first CMD not on PATH (BENCH_NEED_HINT: where to get it)
bench_need() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found${BENCH_NEED_HINT:+ ($BENCH_NEED_HINT)}"
  done
}

# bench_destroy lxt|lxc NAME...: stop -k and destroy -f each container, quietly (through the
# script's lxt/lxc functions)
bench_destroy() {
  local tool=$1 n; shift
  for n in "$@"; do quiet "$tool" stop -k -n "$n"; quiet "$tool" destroy -f -n "$n"; done
  [ "$tool" = lxc ] && bench_lxc_cgroups "$@"
  return 0
}

# bench_lxc_cgroups NAME...: LXC can leave its empty monitor cgroups (lxc.monitor.NAME[-N]) and
# lxc.pivot behind after lxc-stop -k; removed here when empty (rmdir never removes a used one).
bench_lxc_cgroups() {
  local n d
  for n in "$@"; do
    for d in /sys/fs/cgroup/lxc.monitor."$n" /sys/fs/cgroup/lxc.monitor."$n"-* \
      /sys/fs/cgroup/*/lxc.monitor."$n" /sys/fs/cgroup/*/lxc.monitor."$n"-*; do
      [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
  done
  for d in /sys/fs/cgroup/lxc.pivot /sys/fs/cgroup/*/lxc.pivot; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
  return 0
}

# bench_sweep_networks ROOT: a managed network under lxt state root ROOT (none should exist:
# containers are made with --network empty or on a bench-made bridge) is deleted, loudly.
bench_sweep_networks() {
  local f
  for f in "$1"/.networks/*.json; do
    [ -e "$f" ] || continue
    f=${f##*/}; f=${f%.json}
    warn "network $f was created; deleting it"
    LXT_PATH=$1 quiet lxt network delete "$f"
  done
}

# bench_rundir ROOT: lxt's runtime directory for state root ROOT (/run/lxt/ID, ID the first 12
# hex digits of the 64-bit FNV-1a of the path's bytes: rootId in src/container/paths.ts). Bash's
# 64-bit arithmetic wraps as the hash needs; LC_ALL=C makes ${s:i:1} one byte.
bench_rundir() {
  local s=$1 h=$((0xcbf29ce484222325)) i c
  for ((i = 0; i < ${#s}; i++)); do
    printf -v c '%d' "'${s:i:1}"
    h=$(( (h ^ (c & 255)) * 0x100000001b3 ))
  done
  printf -v h '%016x' "$h"
  echo "${LXT_RUNDIR:-/run/lxt}/${h:0:12}"
}

# bench_remove DIR...: rm -rf each, never through a mount left behind by a tool that misbehaved
bench_remove() {
  local d
  for d in "$@"; do
    [ -n "$d" ] && [ -e "$d" ] || continue
    if awk -v d="$d" '$5 == d || index($5, d "/") == 1 { f = 1 } END { exit !f }' /proc/self/mountinfo; then
      warn "something is still mounted under $d; left in place"
    else
      rm -rf --one-file-system "$d"
    fi
  done
}

# bench_cleanup: the on-exit cleanup of a bench with containers LXT_NAMES under state root LXTP,
# LXC_NAMES under lxcpath LXCP, and work directory W
bench_cleanup() {
  trap - EXIT INT TERM
  echo "$BENCH_TAG: cleaning up" >&2
  bench_destroy lxt "${LXT_NAMES[@]}"
  bench_destroy lxc "${LXC_NAMES[@]}"
  bench_sweep_networks "$LXTP"
  bench_remove "$LXTP" "$(bench_rundir "$LXTP")" "$LXCP" "$W"
}

# ---- figures: a FILE holds one sample per line -------------------------------------------------
# bench_stats FILE -> "median min max n" (nothing when FILE has no samples)
bench_stats() {
  [ -s "$1" ] || return 0
  sort -g "$1" | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
    print m, a[1], a[NR], NR }'
}
bench_med() { local s; s=$(bench_stats "$1"); echo "${s%% *}"; }
bench_num() { local s; s=$(bench_stats "$1"); if [ -n "$s" ]; then echo "${s##* }"; else echo 0; fi; }
bench_fmt() { awk -v x="$1" 'BEGIN { printf((x >= 100) ? "%.0f" : (x >= 10) ? "%.1f" : "%.2f", x) }'; }
# bench_cell FILE UNIT -> "12.3 ms (10.1–15.0)", or n/a
bench_cell() {
  local s; s=$(bench_stats "$1"); [ -n "$s" ] || { echo "n/a"; return; }
  set -- $s "$2"; echo "$(bench_fmt "$1") $5 ($(bench_fmt "$2")–$(bench_fmt "$3"))"
}
# bench_ratio A B -> A/B with two decimals, or – when either is missing or B is 0
bench_ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }
# bench_complete N FILE...: every FILE holds exactly N samples (each one checked when it was taken)
bench_complete() {
  local n=$1 f; shift
  for f in "$@"; do [ "$(bench_num "$f")" = "$n" ] || return 1; done
}
# bench_verdict VALUE le|ge LIMIT N FILE...: " ✅" or " ❌" for VALUE ≤ (le) or ≥ (ge) LIMIT, but only
# when every FILE holds its N checked samples: a figure missing samples (a failed command, a state
# not reached, a process gone before its memory was read) gets no verdict, and says so.
bench_verdict() {
  local v=$1 dir=$2 lim=$3 n=$4; shift 4
  case $v in '' | – | n/a) return 0 ;; esac
  if ! bench_complete "$n" "$@"; then echo " (no verdict: not all $n samples)"; return 0; fi
  if awk -v v="$v" -v l="$lim" -v d="$dir" 'BEGIN { exit !((d == "le") ? v <= l : v >= l) }'; then
    echo " ✅"
  else
    echo " ❌"
  fi
}
