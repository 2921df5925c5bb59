# Shared by the VM scripts (cgroup2-smoke.sh, systemd-host.sh): TAP-like
# checks, lxt's JSON fields, and the run wrapper. Sourced from the repo root.
# shellcheck shell=bash
LXT="$PWD/bin/lxt"
CG=/sys/fs/cgroup
pass=0
fail=0
known=0
ok() { echo "ok $1"; pass=$((pass + 1)); }
notok() { echo "not ok $1: $2"; fail=$((fail + 1)); }
# a failure we know about and expect (TAP's TODO): reported, not counted as failed
todo() { echo "not ok $1 # TODO $2"; known=$((known + 1)); }

own_cgroup() { sed -n 's/^0:://p' /proc/self/cgroup; }
# "key": value of a flat JSON object (strings and numbers only)
json_field() { sed -n "s/^  \"$1\": \"\\{0,1\\}\\([^\",]*\\)\"\\{0,1\\},\\{0,1\\}\$/\\1/p" "$2"; }
json_cgroups() { sed -n '/"cgroups": \[/,/\]/{s/^ *"\(\/[^"]*\)",\{0,1\}$/\1/p}' "$1"; }

# run NAME CMD...: run a command, its output in $TMP/out; ok/not ok on its status
run() {
  local name=$1; shift
  local rc=0
  "$@" > "$TMP/out" 2>&1 || rc=$?
  if [ $rc = 0 ]; then ok "$name"; return 0; fi
  notok "$name" "exit $rc: $(tr '\n' ' ' < "$TMP/out" | cut -c1-400)"
  return 1
}

# state_is NAME CHECK CONTAINER WANT
state_is() {
  local got
  got=$("$LXT" info -n "$3" -s 2>&1 | sed -n 's/^State: *//p')
  if [ "$got" = "$4" ]; then ok "$1/$2"; else notok "$1/$2" "info -s says '${got:-?}', want $4"; fi
}

# until_true SECONDS CMD...: polls CMD every 0.1 s until it succeeds; fails after SECONDS
until_true() {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.1
  done
}

summary() {
  if [ "$known" = 0 ]; then echo "$pass passed, $fail failed"; else echo "$pass passed, $fail failed ($known known failures, TODO)"; fi
  [ "$fail" = 0 ]
}
