# Shared helpers for the integration tests (POSIX sh; CTest runs each
# t_*.sh with `sh`, which is dash on Debian).
#
# A test script sources this file, calls check_* functions, and ends with
# `finish`. Every failed check prints one line "FAIL: <check>: <detail>";
# `finish` exits non-zero if any check failed. The EXIT trap kills every
# background process the test started (each runs in its own session, so
# the whole group goes) and removes the temp dir, whatever way the script
# ends.

set -u

: "${FILELOCK:?FILELOCK must name the filelock binary under test}"
: "${FILELOCK_TESTS_DIR:=$(dirname "$0")/..}"
FL=$FILELOCK

T=$(mktemp -d "${TMPDIR:-/tmp}/filelock-it.XXXXXX") || exit 1
L="$T/x.lock"
FAILURES=0
CHECKS=0
BG_PIDS=""

cleanup() {
  for p in $BG_PIDS; do
    kill -KILL -"$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
  done
  # Background processes a command left behind record their pid here.
  for f in "$T"/*.bgpid; do
    [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
  done
  rm -rf "$T" "$T.starts"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- checks

pass() {
  CHECKS=$((CHECKS + 1))
  echo "ok: $1"
}

fail() {
  CHECKS=$((CHECKS + 1))
  FAILURES=$((FAILURES + 1))
  echo "FAIL: $1: $2"
}

# check NAME CONDITION-COMMAND... : passes when the command succeeds.
check() {
  _name=$1
  shift
  if "$@"; then pass "$_name"; else fail "$_name" "false: $*"; fi
}

check_eq() {
  if [ "$2" = "$3" ]; then
    pass "$1"
  else
    fail "$1" "expected [$2], got [$3]"
  fi
}

# check_rc NAME EXPECTED: compares with $RC of the last `capture`.
check_rc() {
  if [ "$RC" = "$2" ]; then
    pass "$1"
  else
    fail "$1" "exit status $RC, expected $2 (stderr: $(head -c 400 "$T/err"))"
  fi
}

# check_between NAME LOW HIGH VALUE (decimal numbers)
check_between() {
  if awk -v lo="$2" -v hi="$3" -v v="$4" \
      'BEGIN { exit !(v + 0 >= lo + 0 && v + 0 <= hi + 0) }'; then
    pass "$1"
  else
    fail "$1" "$4 not in [$2, $3]"
  fi
}

# check_below NAME LIMIT VALUE
check_below() {
  if awk -v hi="$2" -v v="$3" 'BEGIN { exit !(v + 0 < hi + 0) }'; then
    pass "$1"
  else
    fail "$1" "$3 is not below $2"
  fi
}

# check_stderr NAME EXPECTED-LINE: the last capture's stderr is exactly
# that one line.
check_stderr() {
  _got=$(cat "$T/err")
  _lines=$(wc -l <"$T/err")
  if [ "$_got" = "$2" ] && [ "$_lines" -eq 1 ]; then
    pass "$1"
  else
    fail "$1" "stderr was [$_got] ($_lines lines), expected [$2]"
  fi
}

# check_one_line NAME [PREFIX]: stderr of the last capture is exactly one
# line, starting with PREFIX (default "filelock: ").
check_one_line() {
  _prefix=${2-filelock: }
  _lines=$(wc -l <"$T/err")
  _first=$(head -n 1 "$T/err")
  case $_first in
    "$_prefix"*) _ok=1 ;;
    *) _ok=0 ;;
  esac
  if [ "$_lines" -eq 1 ] && [ "$_ok" -eq 1 ]; then
    pass "$1"
  else
    fail "$1" "expected one line starting [$_prefix], got $_lines: [$(cat "$T/err")]"
  fi
}

# check_grep NAME FILE FIXED-TEXT
check_grep() {
  if grep -qF -- "$3" "$2"; then
    pass "$1"
  else
    fail "$1" "[$3] not in $(basename "$2"): [$(head -c 400 "$2")]"
  fi
}

check_no_grep() {
  if grep -qF -- "$3" "$2"; then
    fail "$1" "[$3] unexpectedly in $(basename "$2")"
  else
    pass "$1"
  fi
}

finish() {
  if [ "$FAILURES" -ne 0 ]; then
    echo "$FAILURES of $CHECKS checks FAILED in $(basename "$0")"
    exit 1
  fi
  echo "all $CHECKS checks passed in $(basename "$0")"
  exit 0
}

# ---------------------------------------------------------------- running

now() { date +%s.%N; }

# since START: seconds elapsed since START (from `now`).
since() {
  awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'
}

# capture CMD...: runs CMD with stdout in $T/out and stderr in $T/err;
# sets RC and ELAPSED (seconds).
capture() {
  _t0=$(now)
  "$@" >"$T/out" 2>"$T/err"
  RC=$?
  ELAPSED=$(since "$_t0")
}

# spawn CMD...: starts CMD in the background in a session of its own, with
# SIGINT and SIGQUIT back at their defaults (a non-interactive shell
# ignores them in background jobs, and the command would inherit that).
# Sets SPAWNED to its pid, which is CMD's own pid (setsid and env exec).
# With SPAWN_ERR set, CMD's stderr goes to that file.
spawn() {
  if [ -n "${SPAWN_ERR:-}" ]; then
    setsid env --default-signal=INT,QUIT "$@" 2>"$SPAWN_ERR" &
  else
    setsid env --default-signal=INT,QUIT "$@" &
  fi
  SPAWNED=$!
  BG_PIDS="$BG_PIDS $SPAWNED"
}

# start_soft_owner PREFIX: a shell that takes a soft lock on $L with
# `filelock acquire`, touches PREFIX.ready, waits for PREFIX.go, releases
# and writes release's status to PREFIX.rc. Sets SPAWNED to the shell (the
# lock's owner); returns once the lock is held.
start_soft_owner() {
  rm -f "$1.ready" "$1.go" "$1.rc"
  spawn sh -c '
    "$1" acquire "$2" || exit 9
    touch "$3.ready"
    while [ ! -e "$3.go" ]; do sleep 0.02; done
    "$1" release "$2"; echo $? >"$3.rc"' sh "$FL" "$L" "$1"
  wait_for_file "$1.ready"
}

# trapped_run LABEL SIG PREFIX RUN-ARGS...: spawns `filelock run RUN-ARGS
# -- COMMAND`, where COMMAND traps SIG, writes its pid to PREFIX.pid and
# PREFIX.ready, and on SIG writes PREFIX.got, then holds on (and the lock
# with it) until the test writes PREFIX.go (at most 30 s: a fixed pause was
# too short for the test's look under ASan), writes PREFIX.done and exits
# 7. Sends SIG to filelock once the command runs and waits until the
# command got it. Sets W to filelock's pid; returns 1, after a failed
# check named LABEL, when the command never started or never got it.
trapped_run() {
  _label=$1 _sig=$2 _p=$3
  shift 3
  cat >"$T/trapper.sh" <<'EOF'
sig=$1
p=$2
trap 'echo "$sig" >"$p.got"
  i=0
  while [ ! -e "$p.go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  touch "$p.done"; exit 7' "$sig"
echo $$ >"$p.pid"
touch "$p.ready"
while :; do sleep 0.05; done
EOF
  spawn "$FL" run "$@" -- sh "$T/trapper.sh" "$_sig" "$_p"
  W=$SPAWNED
  if ! wait_for_file "$_p.ready"; then
    fail "$_label: command starts" "never ran"
    return 1
  fi
  kill -"$_sig" "$W"
  if ! wait_for_file "$_p.got" 5; then
    fail "$_label: reaches the command" "the command never got it"
    return 1
  fi
}

# wait_for_file FILE [SECONDS]: 0 once FILE exists, 1 after the deadline.
wait_for_file() {
  _deadline=$(awk -v t="$(now)" -v s="${2:-10}" 'BEGIN { printf "%.3f", t + s }')
  while [ ! -e "$1" ]; do
    if awk -v d="$_deadline" -v t="$(now)" 'BEGIN { exit !(t > d) }'; then
      return 1
    fi
    sleep 0.02
  done
  return 0
}

# wait_until_gone PID [SECONDS]: 0 once PID is dead (or a zombie).
wait_until_gone() {
  _deadline=$(awk -v t="$(now)" -v s="${2:-10}" 'BEGIN { printf "%.3f", t + s }')
  while is_alive "$1"; do
    if awk -v d="$_deadline" -v t="$(now)" 'BEGIN { exit !(t > d) }'; then
      return 1
    fi
    sleep 0.02
  done
  return 0
}

# is_alive PID: the process exists and is not a zombie (init here may be
# slow to reap orphans, and kill -0 succeeds on a zombie), and it is the
# same process as at the first look: that look records its start time, and
# later ones compare it. Pids wrap within seconds on a machine with
# pid_max 32768 while stress tests fork thousands of processes, and a
# newcomer given the pid of a dead command made SIGKILL checks see it
# "alive" with the lock free. Kept beside $T, whose contents tests list.
is_alive() {
  _stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # Fields from the state on (comm may hold spaces and parentheses): the
  # state is the 1st, the start time (field 22) the 20th.
  _f=$(printf '%s\n' "${_stat##*)}" | awk '{ print $1, $20 }')
  _state=${_f% *}
  _start=${_f#* }
  [ -n "$_state" ] && [ "$_state" != Z ] && [ "$_state" != X ] || return 1
  mkdir -p "$T.starts"
  if [ -f "$T.starts/$1" ]; then
    [ "$(cat "$T.starts/$1")" = "$_start" ]
  else
    echo "$_start" >"$T.starts/$1"
  fi
}

# probe PATH [-s]: asks util-linux flock(1), an independent tool, whether
# the lock is free. Prints "free", "busy" or "error:<status>".
probe() {
  flock -n -E 200 ${2:-} "$1" true 2>/dev/null
  _st=$?
  case $_st in
    0) echo free ;;
    200) echo busy ;;
    *) echo "error:$_st" ;;
  esac
}

# A holder: `filelock run [OPTS] LOCK` whose command signals NAME.ready
# once it runs, then waits for NAME.go. Sets PID_NAME (filelock's pid).
#   start_holder NAME LOCK [filelock options...]
start_holder() {
  _n=$1
  _lock=$2
  shift 2
  rm -f "$T/$_n.ready" "$T/$_n.go"
  spawn "$FL" run "$@" "$_lock" -- sh -c '
    touch "$1.ready"
    while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/$_n"
  eval "PID_$_n=\$SPAWNED"
  if ! wait_for_file "$T/$_n.ready" 10; then
    fail "holder $_n starts" "its command never ran"
    return 1
  fi
  return 0
}

# release_holder NAME: lets the holder's command end; sets RC to
# filelock's exit status.
release_holder() {
  touch "$T/$1.go"
  _p=
  eval "_p=\$PID_$1"
  wait "$_p"
  RC=$?
}

# userns_works: 0 when `unshare -rm` (user + mount namespace, no real
# root needed) can mount here.
userns_works() {
  unshare -rm sh -c 'mount -t tmpfs tmpfs "$1"' sh "$T" 2>/dev/null
}

# in_ro_mount DIR CMD...: runs CMD in a private mount namespace where DIR
# is a read-only bind mount of itself. Status 200 when the mount failed.
in_ro_mount() {
  unshare -rm sh -c '
    mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" ||
      exit 200
    shift
    exec "$@"' sh "$@"
}

# as_nobody CMD...: runs CMD as uid/gid 65534 with no groups (the tests
# run as root, which no permission bit stops).
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# ctxt PID: the voluntary context switches of all the process's threads,
# to tell a waiter asleep in the kernel from one that polls (Linux).
ctxt() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}
