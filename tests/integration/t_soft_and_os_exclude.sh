# The two kinds on one path exclude each other: a path that holds a soft
# lock's owner record is a soft lock, whatever --kind says, so `filelock
# run` (an OS lock by default) waits for `filelock acquire` (a soft lock);
# and a soft locker does not take a path an OS lock's file holds. Only the
# flock(1) personality locks such a file as util-linux does. Before, `run`
# took an OS lock on the marker itself and ran beside its owner.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# A shell that takes the soft lock, says so, and releases on a go.
start_soft_owner "$T/a"
OWNER=$SPAWNED

for kind in auto os; do
  capture "$FL" run -n --kind "$kind" "$L" -- touch "$T/ran.$kind"
  check_rc "run --kind $kind on a soft lock's marker is busy" 75
  check_grep "... naming its owner" "$T/err" "held by pid $OWNER"
  check "... and the command did not run" test ! -e "$T/ran.$kind"
done
capture "$FL" run -v -n "$L" -- true
check_grep "-v says why it is taken as a soft lock" "$T/err" \
  "holds a soft lock's owner record: taking it as a soft lock"

# A waiting run gets it when the owner releases, and releases it in turn.
spawn "$FL" run -w 20 "$L" -- sh -c 'echo "$FILELOCK_PATH" >"$1"' sh "$T/w.out"
WAITER=$SPAWNED
sleep 0.3
check "the run waits while the soft lock is held" is_alive "$WAITER"
check "... without having run its command" test ! -e "$T/w.out"
touch "$T/a.go"
wait "$WAITER"
check_eq "the waiter runs once the owner released" 0 "$?"
check_eq "... its command ran" "$L" "$(cat "$T/w.out" 2>/dev/null)"
wait "$OWNER"
check_eq "the owner's release succeeded" 0 "$(cat "$T/a.rc")"
check "... and the waiter's soft lock is gone too" test ! -e "$L"

# The other way round: a soft locker leaves an OS lock's file alone.
spawn "$FL" run "$L" -- sleep 30
HOLDER=$SPAWNED
wait_for_file "$L"
capture "$FL" acquire -n "$L"
check_rc "acquire on a held OS lock's file is refused" 75
kill -TERM "$HOLDER"
wait "$HOLDER"

# util-linux flock(1) knows no soft locks: its personality locks any file.
rm -f "$L"
"$FL" acquire "$L"
capture flock -n "$L" true
check_rc "util-linux flock(1) locks a soft marker as a file" 0
"$FL" release "$L"

finish
