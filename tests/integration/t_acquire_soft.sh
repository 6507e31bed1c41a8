# filelock acquire LOCK: a soft lock owned by the calling shell that
# outlives the command; a second process is refused; the owner releases;
# waiting, -n, -w, -E, --lifetime, --owner-pid and --json.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

# A script that acquires, says so, waits for a go, then releases.
start_soft_owner "$T/a"
SCRIPT=$SPAWNED

check "the marker exists after acquire returned" test -f "$L"
capture "$FL" status --json "$L"
check_rc "status: held" 0
check_grep "owned by the script's shell" "$T/out" "\"pid\": $SCRIPT,"
SINCE=$(sed -n 's/.*"since": "\(.*\)".*/\1/p' "$T/out")

capture "$FL" acquire -n "$L"
check_rc "a second process is refused" 75
check_stderr "... with a message naming the owner" \
  "filelock: cannot lock '$L': held by pid $SCRIPT on $(hostname), since $SINCE"
capture "$FL" acquire -n -q -E 33 "$L"
check_rc "-E changes the busy status" 33
check_eq "-q says nothing" "" "$(cat "$T/err")"
capture "$FL" acquire --json -n -E 33 "$L"
check_rc "--json on a busy lock: the -E status" 33
check_eq "--json on a busy lock: the error in the document" \
  "None busy 33 $SCRIPT" "$(/usr/bin/python3 -c '
import json, re, sys
d = json.load(open(sys.argv[1]))
pid = re.search(r"held by pid (\d+)", d["error"]["message"]).group(1)
print(d["lock"], d["error"]["code"], d["exit_status"], pid)' "$T/out")"
capture "$FL" acquire -w 0.3 "$L"
check_rc "-w 0.3 on a held lock: busy" 75
check_between "-w 0.3 waits about 0.3 s" 0.25 5 "$ELAPSED"
check_grep "the timeout message says so" "$T/err" "timed out after 300ms"

# A waiter gets the lock once the owner releases.
( sleep 0.3; touch "$T/a.go" ) &
capture "$FL" acquire -w 10 --owner-pid $$ "$L"
check_rc "a waiter gets the lock after the owner's release" 0
check_below "... promptly" 5 "$ELAPSED"
wait "$SCRIPT"
check_eq "the owner's release succeeded" 0 "$(cat "$T/a.rc")"
"$FL" release --owner-pid $$ "$L"
check "release removes the marker" test ! -e "$L"

# C28: the same shell acquiring twice is refused, not counted, and the
# lock stays held; one release frees it.
capture sh -c '
  "$1" acquire "$2" || exit 9
  "$1" acquire -n "$2"; echo "second=$?"
  "$1" status "$2" >/dev/null; echo "status=$?"
  "$1" release "$2"; echo "release=$?"
  "$1" status "$2" >/dev/null; echo "after=$?"' sh "$FL" "$L"
check_eq "C28: a second acquire from the same shell is busy, status held" \
  "second=75 status=0 release=0 after=1" "$(tr '\n' ' ' <"$T/out" | sed 's/ $//')"
check_grep "C28: the message says the caller holds it" "$T/err" \
  "the calling process itself: release it first"

# --json prints the record with its token.
spawn sleep 60
OWNER=$SPAWNED
capture "$FL" acquire --json --lifetime 30 --owner-pid "$OWNER" "$L"
check_rc "acquire --json" 0
check_eq "--json: the token is printed and is the marker's" ok \
  "$(/usr/bin/python3 -c '
import json, sys
out = json.load(open(sys.argv[1]))["lock"]
rec = json.load(open(sys.argv[2]))
ok = (out["token"] == rec["token"] and len(out["token"]) >= 32 and
      out["holders"][0]["pid"] == int(sys.argv[3]) == rec["pid"] and
      out["kind"] == "soft" and out["state"] == "held" and
      out["lifetime"] == 30 and out["holders"][0]["expires"] is not None)
print("ok" if ok else out)' "$T/out" "$L" "$OWNER")"
kill "$OWNER"
wait_until_gone "$OWNER"
capture "$FL" acquire -n "$L"
check_rc "once its owner is gone the lock is taken over" 0
"$FL" release "$L"

# A lease ends even though its owner lives.
capture "$FL" acquire --lifetime 0.5 "$L"
check_rc "acquire --lifetime 0.5" 0
sleep 1
capture "$FL" status "$L"
check_rc "an expired lease is stale" 2
capture "$FL" acquire -n --owner-pid $$ "$L"
check_rc "and another owner takes it over" 0
"$FL" release --owner-pid $$ "$L"

# Usage errors.
capture "$FL" acquire -s "$L"
check_rc "acquire -s LOCK: soft locks are exclusive only" 64
check_one_line "-s says why in one line"
check "-s leaves nothing behind" test ! -e "$L"
capture "$FL" acquire
check_rc "acquire with neither LOCK nor --fd" 64
capture "$FL" acquire --fd 9 "$L"
check_rc "acquire with both LOCK and --fd" 64
capture "$FL" acquire --lifetime -1 "$L"
check_rc "a negative lifetime" 64
capture "$FL" acquire "$T/missing/x.lock"
check_rc "a lock in a missing directory" 66
check_grep "... names the directory" "$T/err" "does not exist"

# The file an OS lock leaves behind has no owner record: acquire refuses it
# (it may be an old Python soft lock) and says why, rather than "held by
# another process".
O="$T/os-made.lock"
"$FL" run "$O" -- true
capture "$FL" acquire -n "$O"
check_rc "acquire on an OS lock's leftover file is refused" 75
check_one_line "... in one line"
check_grep "... says the kinds cannot share a path" "$T/err" \
  "soft and OS locks cannot share a path"
check "... and leaves the file as it was" test ! -s "$O"

finish
