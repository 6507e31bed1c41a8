# The shared/exclusive matrix with real processes: readers run together,
# every other pair excludes, and a writer waits for the last reader.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# matrix HELD-MODE WANTED-MODE EXPECTED-STATUS
matrix() {
  start_holder A "$L" "$1" || return
  capture "$FL" run "$2" -n "$L" -- sh -c 'test -e "$0"' "$T/A.ready"
  check_rc "holder $1, second $2 -n -> $3" "$3"
  check_eq "holder $1: flock(1) -x -n also finds it held" busy "$(probe "$L")"
  release_holder A
  check_rc "holder $1 exits 0" 0
}
matrix -s -s 0
matrix -s -x 75
matrix -x -s 75
matrix -x -x 75
matrix --shared --exclusive 75
matrix --exclusive --shared 75

# The default mode is exclusive.
start_holder A "$L" || finish
capture "$FL" run -s -n "$L" -- true
check_rc "default mode excludes a reader" 75
release_holder A

# Two readers inside at the same moment: each waits for the other's
# marker, so this only ends if both hold the lock at once.
reader() {
  spawn "$FL" run -s -w 10 "$L" -- sh -c '
    touch "$1"
    i=0
    while [ ! -e "$2" ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
    test -e "$2"' sh "$1" "$2"
}
reader "$T/r1.in" "$T/r2.in"
R1=$SPAWNED
reader "$T/r2.in" "$T/r1.in"
R2=$SPAWNED
wait "$R1"
check_eq "reader 1 saw reader 2 inside at the same time" 0 "$?"
wait "$R2"
check_eq "reader 2 saw reader 1 inside at the same time" 0 "$?"

# A writer waits for every reader, and readers never see it inside.
start_holder S1 "$L" -s || finish
start_holder S2 "$L" -s || finish
spawn "$FL" run -x -w 20 "$L" -- sh -c '
  { test -e "$1.go" && test -e "$2.go"; } || echo "writer entered while a reader held" >"$3"
  touch "$4"' sh "$T/S1" "$T/S2" "$T/bad" "$T/writer.in"
W=$SPAWNED
sleep 0.3
check "writer waits while two readers hold" test ! -e "$T/writer.in"
release_holder S1
sleep 0.3
check "writer still waits while one reader holds" test ! -e "$T/writer.in"
capture "$FL" run -s -n "$L" -- true
check_rc "a new reader still gets in beside the last reader" 0
release_holder S2
wait "$W"
check_eq "writer gets the lock after the last reader" 0 "$?"
check "writer ran only after both readers left" test ! -e "$T/bad"
check "writer ran its command" test -e "$T/writer.in"

finish
