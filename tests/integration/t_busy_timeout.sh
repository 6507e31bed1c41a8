# Busy (75), -E, -n, -q, timeout accuracy (generous bounds), and the
# timeout table of case C22 and the shared-mode timeout of case C24.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

start_holder H "$L" || finish
held_by="held by pid $PID_H ("

# ---- -n: one attempt, busy -> 75 at once, with one line naming the holder
capture "$FL" run -n "$L" -- touch "$T/ran"
check_rc "-n on a held lock -> 75" 75
check_one_line "-n busy: one line" "filelock: cannot lock '$L': $held_by"
check_below "-n busy: immediate" 1 "$ELAPSED"
check "-n busy: command not run" test ! -e "$T/ran"

capture "$FL" run --nonblock -E 42 "$L" -- touch "$T/ran"
check_rc "-E 42 on busy -> 42" 42
capture "$FL" run -w 0.2 --conflict-exit-code=3 "$L" -- touch "$T/ran"
check_rc "-E 3 on timeout -> 3" 3
check "busy with -E: command not run" test ! -e "$T/ran"

# C06: a command's own 75 is told apart from busy by -E, and by busy
# being the only one that says something.
capture "$FL" run -E 99 -n "$T/other.lock" -- sh -c 'exit 75'
check_rc "C06: a command exiting 75 passes through under -E 99" 75
check_eq "C06: a command's own 75 comes with no message" "" "$(cat "$T/err")"
capture "$FL" run -E 99 -n "$L" -- sh -c 'exit 75'
check_rc "C06: busy under -E 99 -> 99" 99
check_one_line "C06: busy says so" "filelock: cannot lock '$L': "

capture "$FL" run -q -n "$L" -- true
check_rc "-q busy -> 75" 75
check_eq "-q busy: nothing on stderr" "" "$(cat "$T/err")"

# ---- timeout accuracy (bounds are generous: the machine is shared)
capture "$FL" run -w 0.5 "$L" -- touch "$T/ran"
check_rc "-w 0.5 on a held lock -> 75" 75
check_between "-w 0.5 returns after 0.45s..3s" 0.45 3 "$ELAPSED"
check_one_line "-w 0.5 timeout: one line" \
  "filelock: timed out after 500ms waiting for '$L' ($held_by"
capture "$FL" run -w 300ms "$L" -- true
check_rc "-w 300ms -> 75" 75
check_between "-w 300ms returns after 0.27s..3s" 0.27 3 "$ELAPSED"
capture "$FL" run -s -w 1.2 "$L" -- true
check_rc "C24: shared request vs exclusive holder, -w 1.2 -> 75" 75
check_between "C24: shared honours its timeout (1.1s..4s)" 1.1 4 "$ELAPSED"
capture "$FL" run -s -n "$L" -- true
check_rc "C24: shared -n vs exclusive holder -> 75" 75

# ---- C22: what 0, negative, tiny and junk timeouts mean, with a holder
c22() {
  # c22 TIMEOUT EXPECTED-STATUS MAX-SECONDS
  rm -f "$T/ran"
  capture "$FL" run -x --timeout="$1" "$L" -- touch "$T/ran"
  check_rc "C22: held, --timeout=[$1] -> $2" "$2"
  check_below "C22: held, --timeout=[$1] takes < $3s" "$3" "$ELAPSED"
  check "C22: held, --timeout=[$1]: command not run" test ! -e "$T/ran"
}
c22 0 75 1
c22 0.0 75 1
c22 0ms 75 1
c22 1e-9 75 1
c22 -1 64 1
c22 -0.5 64 1
c22 abc 64 1
c22 nan 64 1
c22 inf 64 1
c22 1e309 64 1
c22 '' 64 1
capture "$FL" run -x --timeout=0.25 "$L" -- true
check_rc "C22: held, --timeout=0.25 -> 75" 75
check_between "C22: --timeout=0.25 is honoured (0.22s..3s)" 0.22 3 "$ELAPSED"

# ---- a waiter wakes when the holder lets go (no waiting out the timeout)
spawn "$FL" run -w 20 "$L" -- sh -c 'date +%s.%N >"$0"' "$T/entered"
W=$SPAWNED
sleep 0.3
check "waiter still waiting while held" test ! -e "$T/entered"
released=$(now)
release_holder H
check_rc "holder exits 0" 0
wait "$W"
check_eq "waiter -w 20 gets the lock after release" 0 "$?"
if [ -e "$T/entered" ]; then
  check_below "waiter enters < 1.5s after release" 1.5 \
    "$(awk -v a="$released" -v b="$(cat "$T/entered")" 'BEGIN { print b - a }')"
else
  fail "waiter ran its command" "no $T/entered"
fi

# ---- on a free lock, a zero timeout is one successful try
capture "$FL" run -w 0 "$L" -- true
check_rc "C22: free lock, -w 0 -> 0" 0
capture "$FL" run -n "$L" -- true
check_rc "free lock, -n -> 0" 0
capture "$FL" run -s -w 0 "$L" -- true
check_rc "free lock, -s -w 0 -> 0" 0

# ---- C24 the other way round: shared holder, exclusive request times out
start_holder S "$L" -s || finish
capture "$FL" run -s -w 2 "$L" -- echo second-reader
check_rc "C24: shared request vs shared holder -> 0" 0
check_below "C24: second reader gets in at once" 1.5 "$ELAPSED"
capture "$FL" run -x -w 1 "$L" -- true
check_rc "C24: exclusive vs shared holder, -w 1 -> 75" 75
check_between "C24: exclusive honours its timeout (0.9s..4s)" 0.9 4 "$ELAPSED"
release_holder S
check_rc "shared holder exits 0" 0

finish
