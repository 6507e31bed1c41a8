# Case C05 for soft locks: a signal sent to `filelock run --kind soft`
# reaches the command, and the marker stays (another soft run is refused)
# until the command has ended; after SIGKILL of filelock the command dies
# too, and no other soft run ever gets the lock while it is still alive.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"
ulimit -c 0 2>/dev/null || :

for sig in TERM INT HUP; do
  p="$T/trap-$sig"
  trapped_run "soft, SIG$sig" "$sig" "$p" --kind soft "$L" || continue
  check_eq "soft, SIG$sig to filelock reaches the command" "$sig" \
    "$(cat "$p.got")"
  capture "$FL" run -n --kind soft "$L" -- true
  check_rc "soft, SIG$sig: while the command runs on, the lock is held" 75
  check "soft, SIG$sig: ... and the command has not ended" test ! -e "$p.done"
  touch "$p.go"
  wait "$W"
  check_eq "soft, SIG$sig: filelock exits with the command's status" 7 "$?"
  check "soft, SIG$sig: filelock returned after the command ended" \
    test -e "$p.done"
  check "soft, SIG$sig: the marker is gone afterwards" test ! -e "$L"
done

# SIGKILL of filelock: the command ignores every signal it can. While it
# is alive, other soft runs (which take over a dead holder's marker at
# once) must keep failing.
p="$T/killed"
spawn "$FL" run --kind soft "$L" -- sh -c '
  trap "" TERM INT HUP QUIT
  echo $$ >"$0.pid"
  exec sleep 34' "$p"
W=$SPAWNED
if wait_for_file "$p.pid"; then
  C=$(cat "$p.pid")
  sleep 0.1
  kill -KILL "$W"
  violations=0
  i=0
  while is_alive "$C" && [ $i -lt 100 ]; do
    if "$FL" run -n --kind soft "$L" -- true 2>/dev/null && is_alive "$C"; then
      violations=$((violations + 1))
    fi
    i=$((i + 1))
  done
  check_eq "soft, SIGKILL: no soft run gets the lock while the command lives" \
    0 "$violations"
  check "soft, SIGKILL: the command dies with filelock (< 2s)" \
    wait_until_gone "$C" 2
  wait "$W"
  check_eq "soft, SIGKILL: filelock's status is 137" 137 "$?"
  capture "$FL" run -n --kind soft "$L" -- true
  check_rc "soft, SIGKILL: the dead holder's marker is then taken over" 0
else
  fail "soft, SIGKILL: command starts" "never ran"
fi

finish
