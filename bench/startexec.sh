#!/bin/bash
# Start and exec through lxtd against LXC's tools, interleaved sample by sample in one run, with
# the CPU time each side spends (bench/api.sh's start and exec rows without its bulk and list).
# With LXTD_BEFORE=CMD a second daemon (another build, e.g. main's bin/lxtd) runs on its own state
# root and is sampled in the same rounds: a before/after under the same load.
#
#   start: PUT /1.0/instances/NAME/state {start} → operation Success   vs lxc-start -d + lxc-wait RUNNING
#   exec:  POST /1.0/instances/NAME/exec `true` → operation Success     vs lxc-attach -- true
#   client: one client process per daemon for the whole run (api-client.mjs `serve`), as a daemon's
#          caller is: a process already running and connected. With BENCH_CLIENT=fresh each sample
#          is a new client process instead (connected and warmed by one GET /1.0 first), whose first
#          POST pays its own lazy loading (2-15 ms here, before the request reaches the daemon).
#   CPU:   the daemon's utime+stime with those of its descendants outside containers (helper pool,
#          monitors, attach server and zygotes, what they reaped), read from /proc before and after
#          each request; LXC's tools' own (the shell's children times) and, for the start, its
#          daemonized monitor's (read once the container runs). Containers' processes (the init,
#          and the child's setup before its exec) are counted on neither side.
#
# Usage: bench/startexec.sh [N]     N samples per tool and figure (default 20)
# Env:   LXTD=CMD (default bin/lxtd of this checkout), LXT=CMD (default dist/lxt.cjs of it), LXTD_BEFORE=CMD (optional),
#        BENCH_API_POOL=2 (--helper-pool), BENCH_CLIENT=serve|fresh. Prints a markdown report; writes nothing in the repo.
# Root only. Private state roots under /var/tmp, removed on exit.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH_TAG=bench/startexec
LXT=${LXT:-node $HERE/../dist/lxt.cjs}
. "$HERE/lib.sh"
N=${1:-20}
bench_positive "$N" "usage: bench/startexec.sh [N]  (N a positive integer, got '$N')"
POOL=${BENCH_API_POOL:-2}
MODE=${BENCH_CLIENT:-serve}
[ "$MODE" = serve ] || [ "$MODE" = fresh ] || die "BENCH_CLIENT is serve or fresh, not '$MODE'"
bench_need_root
bench_need lxc-create lxc-start lxc-wait lxc-stop lxc-attach lxc-destroy node
CLIENT=(node "$HERE/api-client.mjs")
TAGS=(after)
declare -A CMD=([after]="${LXTD:-$HERE/../bin/lxtd}")
[ -n "${LXTD_BEFORE:-}" ] && { TAGS=(before after); CMD[before]=$LXTD_BEFORE; }

W=$(mktemp -d /var/tmp/startexec.XXXXXX)
chmod 755 "$W"   # an unprivileged container's root must reach its rootfs
LXCP=$W/lxc
mkdir -p "$LXCP"
declare -A DPID ROOT CPID CIN COUT
B=lxcsebench-a
cleanup() {
  trap - EXIT INT TERM
  local t
  for t in "${TAGS[@]}"; do
    if [ -n "${CPID[$t]:-}" ]; then
      # Its stdin's end is no EOF while the other client holds a copy of that fd: ended by pid.
      kill "${CPID[$t]}" 2>/dev/null && wait "${CPID[$t]}" 2>/dev/null
    fi
    if [ -n "${DPID[$t]:-}" ]; then
      "${CLIENT[@]}" "${ROOT[$t]}/.lxtd/unix.socket" delete "lxtsebench-$t" 2>/dev/null
      kill "${DPID[$t]}" 2>/dev/null && wait "${DPID[$t]}" 2>/dev/null
    fi
    [ -n "${ROOT[$t]:-}" ] && bench_remove "$(bench_rundir "${ROOT[$t]}")"
  done
  quiet lxc-stop -P "$LXCP" -n "$B" -k
  quiet lxc-destroy -P "$LXCP" -n "$B" -f
  bench_lxc_cgroups "$B"
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# proc_us PID: the CPU time of PID's threads (schedstat: ns, exact; /proc/PID/stat's utime and
# stime are in 10 ms ticks, which a short-lived helper never reaches) and of the children it
# reaped (cutime+cstime, ticks), in microseconds
proc_us() {
  local ns
  ns=$(cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ t += $1 } END { printf "%d", t }')
  awk -v ns="${ns:-0}" -v t="$(getconf CLK_TCK)" '{ printf "%d\n", ns / 1000 + ($16 + $17) * 1000000 / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# cpu_us PID: proc_us of PID and of its descendants outside containers (pool members, monitors,
# the attach server and its zygotes)
cpu_us() {
  local todo=("$1") p tot=0 mine
  mine=$(readlink /proc/self/ns/pid)
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]} todo=("${todo[@]:1}")
    [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$mine" ] || continue
    tot=$((tot + $(proc_us "$p")))
    todo+=($(cat /proc/"$p"/task/*/children 2>/dev/null))
  done
  echo "$tot"
}
# shell_cpu_us: the user+system time of this shell's reaped children, in microseconds (`times`
# run in this shell, not in a $(...) subshell, which would report its own children)
shell_cpu_us() {
  times > "$W/times"
  awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000000 }' "$W/times"
}

for t in "${TAGS[@]}"; do
  ROOT[$t]=$W/root-$t
  mkdir -p "${ROOT[$t]}/.lxtd/profiles"
  printf 'description: bench, no NIC\nconfig: {}\ndevices:\n  root:\n    path: /\n    pool: default\n    type: disk\n' \
    > "${ROOT[$t]}/.lxtd/profiles/default.yaml"
  read -r -a c <<< "${CMD[$t]}"
  LXTD_PHASES=$W/phases-$t LXT_PATH=${ROOT[$t]} "${c[@]}" --foreground -P "${ROOT[$t]}" --helper-pool "$POOL" \
    > "$W/lxtd-$t.out" 2> "$W/lxtd-$t.err" &
  DPID[$t]=$!
  for _ in $(seq 1 100); do grep -q "listening" "$W/lxtd-$t.out" 2>/dev/null && break; sleep 0.05; done
  grep -q "listening" "$W/lxtd-$t.out" || die "lxtd ($t) did not start: $(head -c 500 "$W/lxtd-$t.err")"
  LXT_PATH=${ROOT[$t]} lxt create -n "lxtsebench-$t" -t busybox --network empty >/dev/null || die "create ($t) failed"
done
printf 'lxc.net.0.type = empty\n' > "$W/lxc.conf"
lxc-create -P "$LXCP" -n "$B" -t busybox -f "$W/lxc.conf" >/dev/null 2>&1 || die "lxc-create $B failed"
sock() { echo "${ROOT[$1]}/.lxtd/unix.socket"; }
api() { local t=$1; shift; "${CLIENT[@]}" "$(sock "$t")" "$@"; }
# req TAG start|stop|exec NAME: one sample through TAG's client, its line on stdout (none on error)
req() {
  local t=$1 line
  if [ "$MODE" = fresh ]; then
    if [ "$2" = exec ]; then api "$t" exec "$3" 1; else api "$t" "$2" "$3"; fi
    return
  fi
  echo "$2 $3" >&"${CIN[$t]}"
  IFS= read -r line <&"${COUT[$t]}" || die "the client of lxtd ($t) ended"
  case $line in error*) warn "$t: $2 $3: ${line#error }" ;; *) echo "$line" ;; esac
}
if [ "$MODE" = serve ]; then
  for t in "${TAGS[@]}"; do
    mkfifo "$W/in-$t" "$W/out-$t"
    "${CLIENT[@]}" "$(sock "$t")" serve < "$W/in-$t" > "$W/out-$t" &
    CPID[$t]=$!
    exec {fd}> "$W/in-$t"; CIN[$t]=$fd
    exec {fd}< "$W/out-$t"; COUT[$t]=$fd
  done
fi
# lxc_timed FILE CMD...: CMD's wall ms and its CPU ms appended to FILE as `WALL CPU`
lxc_timed() {
  local f=$1 s e c0 c1; shift
  shell_cpu_us > "$W/c0"; s=$EPOCHREALTIME
  "$@" || { warn "$* failed"; return 1; }
  e=$EPOCHREALTIME; shell_cpu_us > "$W/c1"; c0=$(cat "$W/c0") c1=$(cat "$W/c1")
  awk -v s="$s" -v e="$e" -v c="$((c1 - c0))" 'BEGIN { printf "%.3f %.3f\n", (e - s) * 1000, c / 1000 }' >> "$f"
}
lxc_start() { lxc-start -P "$LXCP" -n "$B" -d -s lxc.net.0.type=empty && lxc-wait -P "$LXCP" -n "$B" -s RUNNING -t 10; }

# Warm-up: each daemon's first start and exec, LXC's first start and attach.
for t in "${TAGS[@]}"; do
  req "$t" start "lxtsebench-$t" >/dev/null && req "$t" exec "lxtsebench-$t" >/dev/null && req "$t" stop "lxtsebench-$t" >/dev/null
done
lxc_start && lxc-attach -P "$LXCP" -n "$B" -- true; lxc-stop -P "$LXCP" -n "$B" -k >/dev/null 2>&1
for t in "${TAGS[@]}"; do : > "$W/phases-$t"; done

echo "bench/startexec: $N start rounds" >&2
for _ in $(seq 1 "$N"); do
  for t in "${TAGS[@]}"; do
    c0=$(cpu_us "${DPID[$t]}")
    line=$(req "$t" start "lxtsebench-$t")
    c1=$(cpu_us "${DPID[$t]}")
    [ -n "$line" ] && { echo "$line" >> "$W/start-$t.raw"; awk -v c="$((c1 - c0))" '{ printf "%.3f %.3f\n", $5 - $3, c / 1000 }' <<< "$line" >> "$W/start-$t"; }
    req "$t" stop "lxtsebench-$t" >/dev/null
  done
  if lxc_timed "$W/start-lxc" lxc_start; then
    # Its monitor, daemonized by lxc-start -d (lxt's is among the daemon's descendants): added.
    m=$(pgrep -f "^\[lxc monitor\] $LXCP $B\$" | head -1)
    mc=$([ -n "$m" ] && proc_us "$m")
    awk -v m="${mc:-0}" '{ l[NR] = $0 } END { for (i = 1; i < NR; i++) print l[i]; split(l[NR], f, " "); printf "%s %.3f\n", f[1], f[2] + m / 1000 }' "$W/start-lxc" > "$W/start-lxc.t" && mv "$W/start-lxc.t" "$W/start-lxc"
  fi
  lxc-stop -P "$LXCP" -n "$B" -k >/dev/null 2>&1
done
echo "bench/startexec: $N exec rounds" >&2
for t in "${TAGS[@]}"; do [ -n "$(req "$t" start "lxtsebench-$t")" ] || die "start ($t) failed"; done
lxc_start || die "lxc-start $B failed"
for _ in $(seq 1 "$N"); do
  for t in "${TAGS[@]}"; do
    c0=$(cpu_us "${DPID[$t]}")
    line=$(req "$t" exec "lxtsebench-$t")
    c1=$(cpu_us "${DPID[$t]}")
    [ -n "$line" ] && { echo "$line" >> "$W/exec-$t.raw"; awk -v c="$((c1 - c0))" '{ printf "%.3f %.3f\n", $2, c / 1000 }' <<< "$line" >> "$W/exec-$t"; }
  done
  lxc_timed "$W/exec-lxc" lxc-attach -P "$LXCP" -n "$B" -- true
done
sleep 1.2   # the daemons flush their phase marks each second

# col FILE K: column K of FILE, one value a line
col() { awk -v k="$2" '{ print $k }' "$1"; }
med() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) { print "n/a"; exit } printf "%.2f\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
# phases TAG KIND: the median gap before each daemon mark, between the client's marks
phases() {
  awk -v tag="$2" '
    FNR == NR { if ($1 == tag) { n++; t0[n] = (tag == "exec") ? $3 : $3; t1[n] = (tag == "exec") ? $4 : $4; t2[n] = (tag == "exec") ? $5 : $5 } next }
    $1 == "lxt-phase" { name = $3; for (k = 4; k <= NF; k++) name = name " " $k; pt[++m] = $2; pn[m] = name }
    function add(k, v) { if (!(k in seen)) { seen[k] = ++np; order[np] = k } val[k, ++cnt[k]] = v }
    function med(k,   i, j, a, t, c) {
      c = cnt[k]; for (i = 1; i <= c; i++) a[i] = val[k, i]
      for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (c % 2) ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
    }
    END {
      for (r = 1; r <= n; r++) {
        last = t0[r]; accepted = 0
        for (i = 1; i <= m; i++) {
          if (pt[i] < t0[r] || pt[i] > t2[r]) continue
          if (!accepted && pt[i] > t1[r]) { add("client: 202 received", t1[r] - last); last = t1[r]; accepted = 1 }
          k = pn[i]; if (++rep[r, k] > 1) k = k " #" rep[r, k]
          add(k, pt[i] - last); last = pt[i]
        }
        if (!accepted) { add("client: 202 received", t1[r] - last); last = t1[r] }
        add("client: wait answered (Success)", t2[r] - last)
        add("**total: request → Success**", t2[r] - t0[r])
      }
      for (k = 1; k <= np; k++) printf "%s\t%.2f\n", order[k], med(order[k])
    }' "$W/$2-$1.raw" "$W/phases-$1"
}

{
  echo "$N interleaved rounds; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the end; LXC $(lxc-start --version 2>/dev/null), node $(node --version); --helper-pool $POOL; client: $MODE."
  for t in "${TAGS[@]}"; do echo "lxtd ($t): \`${CMD[$t]}\`"; done
  echo
  echo "| figure | tool | wall median (ms) | CPU median (ms) | wall / LXC | CPU / LXC | n |"
  echo "|---|---|---|---|---|---|---|"
  for k in start exec; do
    lw=$(col "$W/$k-lxc" 1 | med) lc=$(col "$W/$k-lxc" 2 | med)
    for t in "${TAGS[@]}"; do
      w=$(col "$W/$k-$t" 1 | med) c=$(col "$W/$k-$t" 2 | med)
      echo "| $k | lxtd ($t) | $w | $c | $(ratio "$w" "$lw") | $(ratio "$c" "$lc") | $(wc -l < "$W/$k-$t") |"
    done
    echo "| $k | LXC | $lw | $lc | 1 | 1 | $(wc -l < "$W/$k-lxc") |"
  done
  for k in start exec; do
    echo
    echo "Phases of the API $k (ms after the mark before; medians):"
    echo
    printf '| phase |'; for t in "${TAGS[@]}"; do printf ' %s |' "$t"; done; echo
    printf '|---|'; for t in "${TAGS[@]}"; do printf -- '---|'; done; echo
    for t in "${TAGS[@]}"; do phases "$t" "$k" > "$W/ph-$k-$t"; done
    awk -F'\t' -v nt="${#TAGS[@]}" '
      { f = FILENAME; if (!(f in fi)) fi[f] = ++nf; if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1 } v[$1, fi[f]] = $2 }
      END { for (i = 1; i <= no; i++) { printf "| %s |", order[i]; for (j = 1; j <= nt; j++) printf " %s |", ((order[i], j) in v) ? v[order[i], j] : "–"; print "" } }' \
      $(for t in "${TAGS[@]}"; do echo "$W/ph-$k-$t"; done)
  done
}
