# Regression (issue 2, case C05): when filelock was killed with SIGKILL,
# the parent-death signal killed only its direct child, and what that
# child had started (`sh -c 'step1; step2'`, make's jobs, a pipeline) ran
# on with the lock free. Now a guardian that shares the lock kills the
# whole tree before the lock goes.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

p="$T/gc"
spawn "$FL" run "$L" -- sh -c '
  sh -c "echo \$\$ >\"\$0.pid\"; exec sleep 33" "$0"
  true' "$p"
W=$SPAWNED
if wait_for_file "$p.pid"; then
  G=$(cat "$p.pid")
  sleep 0.1
  kill -KILL "$W"
  wait "$W"
  violations=0
  i=0
  while is_alive "$G" && [ $i -lt 40 ]; do
    if [ "$(probe "$L")" = free ] && is_alive "$G"; then
      violations=$((violations + 1))
    fi
    i=$((i + 1))
    sleep 0.02
  done
  check_eq "C05: after SIGKILL, the command's own children are never alive while the lock is free" \
    0 "$violations"
  kill -KILL "$G" 2>/dev/null
else
  fail "C05 grandchild: command starts" "never ran"
fi

finish
