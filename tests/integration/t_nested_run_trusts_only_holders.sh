# Regression (issue 2): a nested run once trusted FILELOCK_HELD as soon as
# it named a live ancestor, without checking that this ancestor still held
# the lock, and ran straight through beside a stranger who held it. Where
# the platform lists every holder (Linux), only that list counts.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# 1. FILELOCK_HELD naming the caller's own shell (a live ancestor that
#    holds nothing) while a stranger holds the lock.
start_holder H "$L" || finish
key=$(stat -c '%d:%i' "$L")
capture env "FILELOCK_HELD=$key:exclusive:$$" "$FL" run -n "$L" -- \
  touch "$T/ran"
check_rc "FILELOCK_HELD naming an ancestor that holds nothing: busy" 75
check "...and the command did not run beside the holder" test ! -e "$T/ran"
release_holder H

# 2. The same without forging anything: under -F the command itself is
#    the holder, and once it closes the lock descriptor (as programs that
#    close every inherited descriptor do) the lock is free; a stranger
#    takes it, and a nested run must not join the stranger.
capture timeout 20 "$FL" run -F "$L" -- sh -c '
  for fd in /proc/$$/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ] && [ "$(readlink "$fd")" = "$1" ]; then
      eval "exec $n>&-"
    fi
  done
  flock "$1" sh -c "touch \"\$0.in\"; sleep 2; rm \"\$0.in\"" "$2" &
  i=0
  while [ ! -e "$2.in" ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
  "$3" run -n "$1" -- sh -c "test -e \"\$0.in\" && echo BOTH-INSIDE" "$2"
  echo "nested=$?"
  wait' sh "$L" "$T/stranger" "$FL"
check_no_grep "-F, lock fd closed: nested run never joins a stranger" \
  "$T/out" BOTH-INSIDE
check_grep "-F, lock fd closed: nested run is busy" "$T/out" "nested=75"

finish
