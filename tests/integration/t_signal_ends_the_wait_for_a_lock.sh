# A waiter that is sent SIGINT, SIGTERM or SIGHUP while it waits for a
# held lock ends at once with 128+N, never runs its command and leaves the
# holder's lock alone (case C14: a lock wait that Ctrl-C could not stop;
# C05 before the lock is taken). Checked for an unbounded wait, a wait
# with -w (which sleeps in flock(2) with a watchdog thread), and a soft
# lock's wait.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# waiter NAME SIG STATUS LOCK [run options...]: a waiter on LOCK (held by
# the caller's holder) gets SIG once it is waiting.
waiter() {
  _wn=$1
  _sig=$2
  _want=$3
  _lock=$4
  shift 4
  rm -f "$T/ran" "$T/w.err"
  SPAWN_ERR="$T/w.err"
  spawn "$FL" run -v "$@" "$_lock" -- touch "$T/ran"
  _w=$SPAWNED
  SPAWN_ERR=
  # -v says "waiting for" just before it goes to sleep in the wait.
  _i=0
  while ! grep -q "waiting for" "$T/w.err" 2>/dev/null && [ $_i -lt 250 ]; do
    sleep 0.02
    _i=$((_i + 1))
  done
  sleep 0.2
  check "$_wn: still waiting before the signal" is_alive "$_w"
  _t0=$(now)
  kill -"$_sig" "$_w"
  if wait_until_gone "$_w" 2; then
    pass "$_wn: SIG$_sig ends the wait at once (< 2s)"
  else
    fail "$_wn: SIG$_sig ends the wait at once (< 2s)" "still waiting"
    kill -KILL "$_w"
  fi
  wait "$_w"
  _rc=$?
  check_eq "$_wn: SIG$_sig -> $_want" "$_want" "$_rc"
  check_below "$_wn: ... promptly" 2 "$(since "$_t0")"
  check "$_wn: the command never ran" test ! -e "$T/ran"
}

start_holder H "$L" || finish
for sig in INT:130 TERM:143 HUP:129; do
  name=${sig%%:*}
  waiter "OS lock, no timeout" "$name" "${sig#*:}" "$L"
  waiter "OS lock, -w 60" "$name" "${sig#*:}" "$L" -w 60
  waiter "OS lock, shared, -w 60" "$name" "${sig#*:}" "$L" -s -w 60
done
check_eq "the holder still holds its lock" busy "$(probe "$L")"
release_holder H
check_rc "the holder exits 0" 0

S="$T/soft.lock"
start_holder HS "$S" --kind soft || finish
marker=$(cat "$S")
for sig in INT:130 TERM:143; do
  waiter "soft lock, no timeout" "${sig%%:*}" "${sig#*:}" "$S" --kind soft
  waiter "soft lock, -w 60" "${sig%%:*}" "${sig#*:}" "$S" --kind soft -w 60
done
check_eq "the soft holder's marker is untouched" "$marker" "$(cat "$S")"
release_holder HS
check_rc "the soft holder exits 0" 0
check "the soft marker is gone after its holder" test ! -e "$S"

finish
