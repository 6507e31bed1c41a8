# filelock break-stale: an owner killed with SIGKILL leaves a stale lock
# that status reports (2), --dry-run leaves alone and break-stale removes;
# live, frozen (C09), unknown-owner and OS-locked (C10) files are never
# touched without --force, and a held OS lock not even with it.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

field() {
  /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$T/out" "$1"
}

# ------------------------------------------- owner killed with SIGKILL
capture sh -c '"$1" acquire "$2" && echo $$ && kill -KILL $$' sh "$FL" "$L"
DEAD=$(cat "$T/out")
check "the owner is gone and its marker remains" test -f "$L"

capture "$FL" status "$L"
check_rc "status says stale" 2
check_grep "... and why" "$T/out" "state:   stale (process $DEAD is gone)"

BEFORE=$(cat "$L")
capture "$FL" break-stale --dry-run "$L"
check_rc "--dry-run: something stale remains" 2
check_eq "--dry-run says what it would do" \
  "'$L': would remove stale lock (process $DEAD is gone)" "$(cat "$T/out")"
check_eq "--dry-run leaves the marker as it was" "$BEFORE" "$(cat "$L")"

capture "$FL" break-stale --dry-run --json "$L"
check_eq "--dry-run --json" "true would_remove stale 2" \
  "$(field 'd["dry_run"], d["locks"][0]["outcome"], d["locks"][0]["state"], d["exit_status"]' |
    tr -d '[],"')"

capture "$FL" break-stale "$L"
check_rc "break-stale removes it: nothing stale remains" 0
check_eq "... and says so" \
  "'$L': removed stale lock (process $DEAD is gone)" "$(cat "$T/out")"
check "the marker is gone" test ! -e "$L"
capture "$FL" status "$L"
check_rc "status says free" 1

capture "$FL" break-stale --json "$L"
check_rc "break-stale on a free lock: 0" 0
check_field_out() { check_eq "$1" "$3" "$(field "$2")"; }
check_field_out "free: nothing to do" 'd["locks"][0]["outcome"]' nothing_to_do

# ---------------------------------------------------------- live owner
spawn sleep 60
OWNER=$SPAWNED
"$FL" acquire --owner-pid "$OWNER" "$L"
BEFORE=$(cat "$L")
capture "$FL" break-stale "$L"
check_rc "a live owner: nothing stale, 0" 0
check_grep "a live owner is left alone, and named" "$T/out" \
  "left alone: held by pid $OWNER"
check_eq "the live marker is untouched" "$BEFORE" "$(cat "$L")"

# C09: a frozen owner is alive; frozen longer than any poll, it is still
# held, and nobody breaks or takes it.
kill -STOP "$OWNER"
sleep 1.2
capture "$FL" status "$L"
check_rc "C09: a stopped owner's lock is held" 0
capture "$FL" acquire -n --owner-pid $$ "$L"
check_rc "C09: another acquirer is refused" 75
capture "$FL" break-stale --json "$L"
check_field_out "C09: break-stale refuses it" 'd["locks"][0]["outcome"]' \
  refused_live
check_eq "C09: the marker is untouched" "$BEFORE" "$(cat "$L")"
kill -CONT "$OWNER"

capture "$FL" break-stale --force "$L"
check_rc "--force removes a live owner's marker" 0
check_grep "... and says it was forced" "$T/out" "(forced)"
check "the forced marker is gone" test ! -e "$L"

# ---------------------------------------------------------- unknown owner
: >"$L"
capture "$FL" break-stale --kind soft --json "$L"
check_rc "an unknown owner: not stale, 0" 0
check_field_out "an unknown owner is refused" 'd["locks"][0]["outcome"]' \
  refused_unknown
check_field_out "... and reported as such" 'd["locks"][0]["owner_unknown"]' \
  true
check "the empty marker is still there" test -f "$L"
capture "$FL" break-stale --kind soft --force "$L"
check_rc "--force removes an unknown owner's marker" 0
check "the empty marker is gone" test ! -e "$L"

# ------------------------------------------------------ C10: OS lock held
start_holder h "$L" -x
INODE=$(stat -c %i "$L")
touch -d '-3 days' "$L"
capture "$FL" break-stale "$L"
check_rc "C10: an old file under a live OS lock is not stale" 0
check_grep "C10: break-stale refuses it" "$T/out" "(an OS lock)"
capture "$FL" break-stale --force --kind soft "$L"
check_grep "C10: not even forced, as a soft marker" "$T/out" "left alone"
capture "$FL" run -n "$L" -- true
check_rc "C10: the lock is still busy" 75
check_eq "C10: same inode, never renamed or unlinked" "$INODE" \
  "$(stat -c %i "$L")"
check_eq "C10: flock(1) agrees it is held" busy "$(probe "$L")"
release_holder h

# C10 once more with a Python filelock holder, the tool of the bug report.
rm -f "$T/py.ready"
spawn /usr/bin/python3 -c '
import sys, time, filelock
with filelock.FileLock(sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(30)' "$L" "$T/py.ready"
wait_for_file "$T/py.ready"
touch -d '-3 days' "$L"
capture "$FL" break-stale --force "$L"
check_grep "C10: a Python holder's OS lock is left alone" "$T/out" \
  "left alone"
check_eq "C10: the Python holder still holds it" busy "$(probe "$L")"
kill -KILL "$SPAWNED"

# ----------------------------------------------------------- several
rm -f "$L"
A="$T/a.lock"
B="$T/b.lock"
capture sh -c '"$1" acquire "$2" && kill -KILL $$' sh "$FL" "$A"
capture "$FL" break-stale --dry-run "$A" "$B"
check_rc "several, one stale in a dry run: 2" 2
capture "$FL" break-stale "$A" "$B" "$T/no/such/dir/c.lock"
check_rc "several, stale removed, the rest free: 0" 0
check_eq "several: each reported, in order" \
  "'$A': removed stale lock|'$B': nothing to do (free)|'$T/no/such/dir/c.lock': nothing to do (free)" \
  "$(sed 's/ (process [0-9]* is gone)//' "$T/out" | paste -sd'|')"
check "several: the stale one is removed" test ! -e "$A"

finish
