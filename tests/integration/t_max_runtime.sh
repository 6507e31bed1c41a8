# --max-runtime: a hung command gets SIGTERM when its time is up, SIGKILL
# (with everything it started) after --kill-after, and the lock is freed
# only once it is gone; filelock exits 124 as timeout(1) does.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# A command that ends within its limit keeps its own status.
capture "$FL" run --max-runtime 5s "$L" -- sh -c 'exit 3'
check_rc "within the limit: the command's own status" 3
check_eq "within the limit: nothing on stderr" "" "$(cat "$T/err")"

# A command that takes TERM: stopped on time, 124, one line naming the limit.
capture "$FL" run --max-runtime 300ms "$L" -- sleep 30
check_rc "over the limit: exit 124" 124
check_between "over the limit: stopped on time" 0.25 5 "$ELAPSED"
check_one_line "over the limit: one line"
check_grep "over the limit: the line names the limit" "$T/err" "max-runtime"
check_eq "over the limit: lock free afterwards" free "$(probe "$L")"

# A command that ignores TERM: the lock stays held through the grace, then
# KILL ends it and its child, and only then is the lock free.
cat >"$T/stubborn.sh" <<'EOF'
trap '' TERM
sleep 60 &
echo $! >"$1.child"
echo $$ >"$1.pid"
wait
EOF
spawn "$FL" run --max-runtime 200ms --kill-after 1500ms "$L" -- \
  sh "$T/stubborn.sh" "$T/s"
W=$SPAWNED
if wait_for_file "$T/s.child"; then
  sleep 0.8  # past the TERM, inside the grace
  check "ignored TERM: the command runs on through the grace" \
    is_alive "$(cat "$T/s.pid")"
  check_eq "ignored TERM: the lock is still held in the grace" busy \
    "$(probe "$L")"
  wait "$W"
  check_eq "ignored TERM: exit 124 after KILL" 124 "$?"
  check "ignored TERM: the command is gone" \
    wait_until_gone "$(cat "$T/s.pid")" 0
  check "ignored TERM: its child is gone too" \
    wait_until_gone "$(cat "$T/s.child")"
  check_eq "ignored TERM: lock free afterwards" free "$(probe "$L")"
else
  fail "ignored TERM: command starts" "never ran"
fi

# Bad values are usage errors, and nothing runs.
for bad in 0 -1s abc; do
  capture "$FL" run --max-runtime "$bad" "$L" -- touch "$T/ran"
  check_rc "--max-runtime '$bad' -> 64" 64
  check_one_line "--max-runtime '$bad': one line"
done
capture "$FL" run --kill-after 1s "$L" -- touch "$T/ran"
check_rc "--kill-after without --max-runtime -> 64" 64
capture "$FL" run -F --max-runtime 1s "$L" -- touch "$T/ran"
check_rc "-F with --max-runtime -> 64" 64
check "bad values: the command never ran" test ! -e "$T/ran"

finish
