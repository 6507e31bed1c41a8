# filelock run --kind soft: the marker and its record, exclusion, takeover
# of a killed holder, the heartbeat that keeps a lease alive past its
# lifetime, a frozen holder (C09), and a lost lock (exit 79, --kill-on-loss).
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

# ------------------------------------------------ the marker and exclusion
capture "$FL" run --kind soft "$L" -- sh -c \
  'echo "kind=$FILELOCK_KIND"; cat "$FILELOCK_PATH"'
check_rc "a soft run runs its command" 0
check_grep "the child learns the kind" "$T/out" "kind=soft"
check_grep "the marker is a record a person can read" "$T/out" \
  '{"filelock":1,"pid":'
check_grep "... naming the command" "$T/out" '"command":"sh -c echo'
check "the marker is gone after the run" test ! -e "$L"
check_eq "nothing else is left behind" "" "$(ls -A "$T" | grep -v '^out$\|^err$')"

start_holder h1 "$L" --kind soft
capture "$FL" run -n --kind soft "$L" -- true
check_rc "a second soft run is refused while held" 75
check_grep "... naming the holder" "$T/err" "held by pid $PID_h1"
capture "$FL" run -s --kind soft "$L" -- true
check_rc "a shared soft lock is a usage error" 64
release_holder h1
check_eq "the holder exits 0" 0 "$RC"

# ---------------------------------------- a killed holder is taken over
start_holder h2 "$L" --kind soft
kill -KILL "$PID_h2"
wait "$PID_h2" 2>/dev/null
capture "$FL" run -v -w 5 --kind soft "$L" -- true
check_rc "the lock of a killed holder is taken over" 0
check_grep "... and says why" "$T/err" "is stale (process $PID_h2 is gone, and so is its keeper "
check "... and released" test ! -e "$L"

# ------------------------------------ a heartbeat outlives the lifetime
# Generous margins: the holder must still be running when we look, even
# on a loaded machine under a sanitizer.
spawn "$FL" run --kind soft --lifetime 2s "$L" -- sleep 9
H=$SPAWNED
wait_for_file "$L"
sleep 5
check_eq "5 s into a 2 s lease, the holder still runs" 0 \
  "$(is_alive "$H" && echo 0)"
capture "$FL" run -n --kind soft "$L" -- true
check_rc "5 s into a 2 s lease renewed by the heartbeat: still held" 75
wait "$H"
check_eq "the long run ends normally" 0 "$?"

# -------------------- C09: a frozen holder without a lifetime stays held
spawn "$FL" run --kind soft "$L" -- sleep 5
H=$SPAWNED
wait_for_file "$L"
kill -STOP "$H"
sleep 2
capture "$FL" run -n --kind soft "$L" -- true
check_rc "C09: a stopped but live holder is never stale" 75
kill -CONT "$H"
wait "$H"
check_eq "C09: the resumed holder exits 0" 0 "$?"

# ------- C09 with a lease: frozen past its lifetime, taken over, told so
SPAWN_ERR="$T/h.err" spawn "$FL" run --kind soft --lifetime 1s "$L" -- \
  sleep 3
H=$SPAWNED
wait_for_file "$L"
kill -STOP "$H"
sleep 2
capture "$FL" run -n --kind soft "$L" -- sleep 2
check_rc "a lease frozen past its lifetime is taken over" 0
kill -CONT "$H"
wait "$H"
check_eq "the resumed holder exits 79 (lock lost)" 79 "$?"
check_grep "... and says so on stderr" "$T/h.err" \
  "filelock: lost the lock on '$L': its marker was removed or taken over"

# --------------------------------------------- a removed marker: exit 79
capture "$FL" run --kind soft "$L" -- sh -c 'rm -f "$FILELOCK_PATH"; exit 3'
check_rc "a marker removed while the command ran: 79, not the child's 3" 79
check_one_line "... with one line on stderr" "filelock: lost the lock on"

capture "$FL" run --kind soft --kill-on-loss "$L" -- sh -c \
  'rm -f "$FILELOCK_PATH"; sleep 30'
check_rc "--kill-on-loss: exit 79" 79
check_below "--kill-on-loss: the command was terminated at once" 10 "$ELAPSED"
check_grep "--kill-on-loss: says it terminated" "$T/err" \
  "terminating the command"

capture "$FL" run --kind soft --lifetime 0 "$L" -- true
check_rc "--lifetime 0 is a usage error" 64
capture "$FL" run --kind soft --lifetime soon "$L" -- true
check_rc "--lifetime soon is a usage error" 64
check "... and nothing was created" test ! -e "$L"

finish
