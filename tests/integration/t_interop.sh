# Interoperability both ways with util-linux flock(1) and Python filelock
# (Debian python3-filelock, FileLock = flock(2)) on the same path.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

PY=/usr/bin/python3
have_py=1
if ! "$PY" -c 'import filelock' 2>/dev/null; then
  have_py=0
  fail "python3-filelock is installed" "$PY cannot import filelock"
fi

# py_try PATH: one attempt with FileLock(timeout=0); prints acquired/busy.
py_try() {
  "$PY" - "$1" <<'EOF'
import sys, filelock
lock = filelock.FileLock(sys.argv[1])
try:
    lock.acquire(timeout=0)
except filelock.Timeout:
    print("busy")
else:
    print("acquired")
    lock.release()
EOF
}

# ---- filelock holds -> the others are refused
start_holder H "$L" || finish
capture flock -n "$L" true
check_rc "filelock -x holds: flock -n fails" 1
capture flock -s -n "$L" true
check_rc "filelock -x holds: flock -s -n fails" 1
if [ $have_py = 1 ]; then
  check_eq "filelock -x holds: FileLock(timeout=0) raises Timeout" busy \
    "$(py_try "$L")"
fi
release_holder H
check_rc "holder exits 0" 0
capture flock -n "$L" true
check_rc "after release: flock -n succeeds" 0
if [ $have_py = 1 ]; then
  check_eq "after release: FileLock acquires" acquired "$(py_try "$L")"
fi

start_holder H "$L" -s || finish
capture flock -s -n "$L" true
check_rc "filelock -s holds: flock -s -n shares it" 0
capture flock -x -n "$L" true
check_rc "filelock -s holds: flock -x -n fails" 1
if [ $have_py = 1 ]; then
  check_eq "filelock -s holds: FileLock(timeout=0) raises Timeout" busy \
    "$(py_try "$L")"
fi
release_holder H

# ---- flock(1) holds -> filelock is refused, then wakes on release
flock_hold() {
  # flock_hold NAME [flock options]
  _fn=$1
  shift
  rm -f "$T/$_fn.ready" "$T/$_fn.go"
  spawn flock "$@" "$L" sh -c '
    touch "$1.ready"
    while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/$_fn"
  eval "PID_$_fn=\$SPAWNED"
  wait_for_file "$T/$_fn.ready" || fail "flock(1) holder $_fn starts" "never ran"
}
flock_hold F -x
capture "$FL" run -n "$L" -- true
check_rc "flock -x holds: filelock run -n -> 75" 75
capture "$FL" run -s -n "$L" -- true
check_rc "flock -x holds: filelock run -s -n -> 75" 75
capture "$FL" run -w 0.3 "$L" -- true
check_rc "flock -x holds: filelock run -w 0.3 -> 75" 75
spawn "$FL" run -w 20 "$L" -- touch "$T/waiter.in"
W=$SPAWNED
sleep 0.2
check "filelock waiter waits behind flock(1)" test ! -e "$T/waiter.in"
release_holder F
wait "$W"
check_eq "filelock waiter gets the lock when flock(1) lets go" 0 "$?"

flock_hold F -s
capture "$FL" run -s -n "$L" -- true
check_rc "flock -s holds: filelock run -s -n -> 0" 0
capture "$FL" run -x -n "$L" -- true
check_rc "flock -s holds: filelock run -x -n -> 75" 75
release_holder F

# ---- Python FileLock holds -> filelock is refused
if [ $have_py = 1 ]; then
  # (A background job's stdin is /dev/null: the script goes in a file.)
  cat >"$T/hold.py" <<'EOF'
import os, sys, time, filelock
with filelock.FileLock(sys.argv[1]):
    open(sys.argv[2] + ".ready", "w").close()
    while not os.path.exists(sys.argv[2] + ".go"):
        time.sleep(0.02)
EOF
  spawn "$PY" "$T/hold.py" "$L" "$T/P"
  PID_P=$SPAWNED
  if wait_for_file "$T/P.ready"; then
    capture "$FL" run -n "$L" -- true
    check_rc "FileLock holds: filelock run -n -> 75" 75
    capture "$FL" run -s -n "$L" -- true
    check_rc "FileLock holds: filelock run -s -n -> 75" 75
    spawn "$FL" run -w 20 "$L" -- touch "$T/waiter2.in"
    W=$SPAWNED
    sleep 0.2
    check "filelock waiter waits behind FileLock" test ! -e "$T/waiter2.in"
    release_holder P
    check_rc "python holder exits 0" 0
    wait "$W"
    check_eq "filelock waiter gets the lock when FileLock lets go" 0 "$?"
  else
    fail "python FileLock holder starts" "never took the lock"
  fi
fi

finish
