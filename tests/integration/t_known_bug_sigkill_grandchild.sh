# KNOWN BUG (issue 2, case C05; fails until fixed in cli/): when filelock
# is killed with SIGKILL, the parent-death signal kills only its direct
# child. Whatever that child started (`sh -c 'step1; step2'`, make's
# jobs, a pipeline) goes on running with the lock free, so a second run
# gets in beside it. The spec asks that the command never run while the
# lock is free: where the command cannot be made to die with filelock, it
# must keep the lock instead.
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
