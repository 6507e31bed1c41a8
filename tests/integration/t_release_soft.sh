# filelock release LOCK: only the owner (its process, or its token) may
# release; anybody else is refused with a message naming the owner, and
# --force releases regardless. An OS lock is never "released" this way.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

spawn sleep 60
OWNER=$SPAWNED
HOST=$(hostname)
capture "$FL" acquire --json --owner-pid "$OWNER" "$L"
check_rc "the owner acquires" 0
TOKEN=$(/usr/bin/python3 -c '
import json, sys
print(json.load(open(sys.argv[1]))["lock"]["token"])' "$T/out")

capture "$FL" release "$L"
check_rc "a non-owner's release is refused" 77
check_grep "the refusal names the owner" "$T/err" \
  "cannot release '$L': held by pid $OWNER on $HOST"
check_one_line "the refusal is one line"
check "a refused release leaves the marker" test -f "$L"

capture "$FL" release --token not-the-token "$L"
check_rc "a wrong token is refused" 77
check_grep "... and says so" "$T/err" "nor with this token"

capture "$FL" release --json "$L"
check_rc "a refusal with --json" 77
check_eq "the refusal in JSON" "not_owner no_permission $OWNER 77" \
  "$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["outcome"], d["error"]["code"], d["owner"]["pid"], d["exit_status"])
' "$T/out")"

capture "$FL" release --token "$TOKEN" "$L"
check_rc "a token release works from any process" 0
check "the token release removed the marker" test ! -e "$L"

capture "$FL" release "$L"
check_rc "releasing a lock that is not held: lock lost" 79
check_stderr "... says so" \
  "filelock: cannot release '$L': not held (already released, or broken as stale)"
capture "$FL" release --force "$L"
check_rc "release --force of a free lock succeeds" 0

"$FL" acquire --owner-pid "$OWNER" "$L"
capture "$FL" release --force -v "$L"
check_rc "--force releases someone else's lock" 0
check_grep "-v says whose it was" "$T/err" "was held by pid $OWNER"
check "--force removed the marker" test ! -e "$L"

"$FL" acquire --owner-pid "$OWNER" "$L"
capture "$FL" release --owner-pid "$OWNER" "$L"
check_rc "release as --owner-pid works" 0

# An OS lock is not a soft lock: release refuses it, even forced.
rm -f "$T/h.ready"
spawn flock "$L" sh -c 'touch "$1"; sleep 30' sh "$T/h.ready"
wait_for_file "$T/h.ready"
capture "$FL" release --force "$L"
check_rc "release --force refuses a held OS lock" 77
check_grep "... saying it is an OS lock" "$T/err" "it is an OS lock held by"
check_eq "the OS lock is still held" busy "$(probe "$L")"

finish
