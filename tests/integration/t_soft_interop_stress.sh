# Soft locks against Python filelock's SoftFileLock (3.9 writes an empty
# marker: an unknown owner, held), and C13 run locally on the soft path:
# 40 runs at once, each checking a critical section, none may overlap or
# fail.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

PY=/usr/bin/python3
if $PY -c 'import filelock' 2>/dev/null; then
  # Python holds the soft lock; filelock waits for it, then gets it.
  spawn $PY -c '
import sys, time, filelock
with filelock.SoftFileLock(sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(1.5)' "$L" "$T/py.ready"
  wait_for_file "$T/py.ready"
  capture "$FL" run -n --kind soft "$L" -- true
  check_rc "a Python soft holder (empty marker) keeps filelock out" 75
  capture "$FL" status --kind soft "$L"
  check_grep "status says the owner is unknown" "$T/out" "unknown"
  capture "$FL" run -w 10 --kind soft "$L" -- true
  check_rc "filelock gets it once Python releases" 0

  # filelock holds; Python's SoftFileLock cannot get it.
  start_holder h "$L" --kind soft
  capture $PY -c '
import sys, filelock
try:
    filelock.SoftFileLock(sys.argv[1], timeout=0).acquire()
    print("acquired")
except filelock.Timeout:
    print("timeout")' "$L"
  check_eq "Python's SoftFileLock is kept out by a filelock marker" \
    timeout "$(cat "$T/out")"
  release_holder h
  check_eq "the holder exits 0" 0 "$RC"
else
  echo "SKIP: /usr/bin/python3 has no filelock module"
fi

# C13, locally: all 40 exit 0, no overlap, no ENOENT.
: >"$T/c13.out"
i=0
while [ $i -lt 40 ]; do
  {
    "$FL" run --kind soft -w 60 "$L" -- sh -c '
      mkdir "$1/crit" 2>/dev/null || echo OVERLAP
      sleep 0.01
      rmdir "$1/crit"' sh "$T" >>"$T/c13.out" 2>>"$T/c13.err"
    echo $? >>"$T/c13.rc"
  } &
  i=$((i + 1))
done
wait
check_eq "C13: all 40 soft runs exited 0" 40 "$(grep -c '^0$' "$T/c13.rc")"
check_no_grep "C13: no overlap" "$T/c13.out" OVERLAP
check_eq "C13: nothing on stderr" "" "$(cat "$T/c13.err")"
check "C13: the marker is gone at the end" test ! -e "$L"
finish
