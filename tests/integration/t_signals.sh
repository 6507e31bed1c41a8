# Signals that reach `filelock run` go to the command, and the lock stays
# held until the command has ended (C05); SIGKILL of filelock takes the
# command down too, never leaving it running unlocked (C05); a daemon the
# command leaves behind does not keep the lock (C03; --inherit, the opt-in
# opposite, is in t_inherit.sh).
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"
ulimit -c 0 2>/dev/null || :  # no core files from the QUIT cases

for sig in TERM INT HUP QUIT; do
  p="$T/trap-$sig"
  trapped_run "SIG$sig" "$sig" "$p" "$L" || continue
  check_eq "SIG$sig to filelock reaches the command as SIG$sig" "$sig" \
    "$(cat "$p.got")"
  check "SIG$sig: command still running after the signal" test ! -e "$p.done"
  check_eq "SIG$sig: lock still held while the command runs on" busy \
    "$(probe "$L")"
  check "SIG$sig: filelock still waiting for its command" is_alive "$W"
  touch "$p.go"
  wait "$W"
  check_eq "SIG$sig: filelock exits with the command's status" 7 "$?"
  check "SIG$sig: filelock returned only after the command ended" \
    test -e "$p.done"
  check_eq "SIG$sig: lock free afterwards" free "$(probe "$L")"
done

# A command that does not catch the signal dies of it: 128+N, no orphan.
for sig in TERM:143 INT:130 HUP:129; do
  name=${sig%%:*}
  p="$T/plain-$name"
  spawn "$FL" run "$L" -- sh -c 'echo $$ >"$0.pid"; exec sleep 31' "$p"
  W=$SPAWNED
  if ! wait_for_file "$p.pid"; then
    fail "SIG$name: command starts" "never ran"
    continue
  fi
  sleep 0.1
  kill -"$name" "$W"
  wait "$W"
  check_eq "C05: SIG$name to filelock -> ${sig#*:}" "${sig#*:}" "$?"
  check "C05: SIG$name: no orphaned command left running" \
    wait_until_gone "$(cat "$p.pid")" 0.5
  check_eq "C05: SIG$name: lock free afterwards" free "$(probe "$L")"
done

# ---- C05: SIGKILL of filelock. The command ignores every signal it can,
# so only the parent-death SIGKILL can end it. At no moment may it be
# alive while the lock is free.
p="$T/killed"
spawn "$FL" run "$L" -- sh -c '
  trap "" TERM INT HUP QUIT
  echo $$ >"$0.pid"
  exec sleep 32' "$p"
W=$SPAWNED
if wait_for_file "$p.pid"; then
  C=$(cat "$p.pid")
  sleep 0.1
  kill -KILL "$W"
  violations=0
  i=0
  while is_alive "$C" && [ $i -lt 150 ]; do
    if [ "$(probe "$L")" = free ] && is_alive "$C"; then
      violations=$((violations + 1))
    fi
    i=$((i + 1))
  done
  check_eq "C05: SIGKILL: command never alive while the lock is free" 0 \
    "$violations"
  check "C05: SIGKILL: command dies with filelock (< 2s)" \
    wait_until_gone "$C" 2
  wait "$W"
  check_eq "C05: SIGKILL: filelock's status is 137" 137 "$?"
  # The guardian that swept the tree holds the lock until it has exited,
  # a moment after the command: free soon, never stuck.
  i=0
  while [ "$(probe "$L")" != free ] && [ $i -lt 250 ]; do
    sleep 0.02
    i=$((i + 1))
  done
  check_eq "C05: SIGKILL: lock free soon afterwards" free "$(probe "$L")"
else
  fail "C05 SIGKILL: command starts" "never ran"
fi

# ---- C03: a daemonizing command does not keep the lock
capture timeout 10 "$FL" run "$L" -- sh -c '
  sleep 60 </dev/null >/dev/null 2>&1 &
  echo $! >"$0/daemon.bgpid"' "$T"
check_rc "C03: wrapper returns the command's status" 0
check_below "C03: wrapper does not wait for the daemon" 5 "$ELAPSED"
check "C03: the daemon is still running" is_alive "$(cat "$T/daemon.bgpid")"
check_eq "C03: lock free as soon as the wrapper returned" free "$(probe "$L")"
capture "$FL" run -n "$L" -- true
check_rc "C03: filelock run -n gets it while the daemon lives" 0
kill "$(cat "$T/daemon.bgpid")"

finish
