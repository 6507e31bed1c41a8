# --inherit: the opt-in opposite of case C03. The command, and what it
# leaves behind, inherit the lock descriptor as with flock(1), so a daemon
# keeps the lock after filelock returns; without it the command cannot
# even see the descriptor.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

capture timeout 10 "$FL" run --inherit "$L" -- sh -c '
  sleep 60 </dev/null >/dev/null 2>&1 &
  echo $! >"$0/heir.bgpid"' "$T"
check_rc "--inherit: wrapper returns the command's status" 0
check_eq "--inherit: the daemon keeps the lock" busy "$(probe "$L")"
capture "$FL" run -n "$L" -- true
check_rc "--inherit: filelock run -n is refused while the daemon lives" 75
kill "$(cat "$T/heir.bgpid")"
wait_until_gone "$(cat "$T/heir.bgpid")" 5
check_eq "--inherit: lock free once the daemon is gone" free "$(probe "$L")"

# Without --inherit the command cannot even see the descriptor.
capture "$FL" run "$L" -- sh -c '
  for fd in /proc/$$/fd/*; do
    [ "$(readlink "$fd")" = "$0" ] && echo leaked
  done; true' "$L"
check_eq "the command has no descriptor on the lock file" "" "$(cat "$T/out")"
capture "$FL" run --inherit "$L" -- sh -c '
  for fd in /proc/$$/fd/*; do
    [ "$(readlink "$fd")" = "$0" ] && echo inherited
  done; true' "$L"
check_eq "--inherit: the command has the descriptor" inherited \
  "$(cat "$T/out")"

finish
