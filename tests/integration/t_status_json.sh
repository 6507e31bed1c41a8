# filelock status --json: free, held (OS exclusive, OS shared with two
# holders, soft), stale and unknown-owner locks, pinned field by field;
# the exit status rule for several locks; errors in the document; and a
# path that is not UTF-8 round-trips through path_hex.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

HOST=$(hostname)
RFC3339='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'

# field EXPR: evaluates EXPR on the JSON document in $T/out (as `d`);
# strings print as they are, everything else as JSON (null, true, 3).
field() {
  /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$T/out" "$1"
}

# check_field NAME EXPR EXPECTED
check_field() {
  check_eq "$1" "$3" "$(field "$2" 2>&1)"
}

check_rfc3339() {
  if field "$2" | grep -Eq "$RFC3339"; then
    pass "$1"
  else
    fail "$1" "not RFC 3339 UTC: [$(field "$2")]"
  fi
}

# ------------------------------------------------------------- free
capture "$FL" status --json "$L"
check_rc "free: exit 1" 1
check_field "free: one document, schema 1" 'd["filelock"]' 1
check_field "free: one lock" 'len(d["locks"])' 1
check_field "free: path as given" 'd["locks"][0]["path"]' "$L"
check_field "free: no path_hex for a UTF-8 path" \
  '"path_hex" in d["locks"][0]' false
check_field "free: state" 'd["locks"][0]["state"]' free
check_field "free: kind asked about" 'd["locks"][0]["kind"]' os
check_field "free: mode null" 'd["locks"][0]["mode"]' null
check_field "free: no holders" 'd["locks"][0]["holders"]' '[]'
check_field "free: stale_reason null" 'd["locks"][0]["stale_reason"]' null
check_field "free: owner known" 'd["locks"][0]["owner_unknown"]' false
check_field "free: exit_status in the document" 'd["exit_status"]' 1
check "status never creates the lock file" test ! -e "$L"

: >"$L"
capture "$FL" status --json "$L"
check_field "an idle lock file is free" 'd["locks"][0]["state"]' free

# ------------------------------------------------- held, OS, exclusive
rm -f "$T/x.ready"
spawn flock "$L" sh -c 'touch "$1"; sleep 30' sh "$T/x.ready"
XPID=$SPAWNED
wait_for_file "$T/x.ready"
capture "$FL" status --json "$L"
check_rc "OS exclusive: exit 0" 0
check_field "OS exclusive: state" 'd["locks"][0]["state"]' held
check_field "OS exclusive: kind" 'd["locks"][0]["kind"]' os
check_field "OS exclusive: mode" 'd["locks"][0]["mode"]' exclusive
check_field "OS exclusive: one holder (the child shares flock's lock)" \
  'len(d["locks"][0]["holders"])' 1
check_field "OS exclusive: holder pid from the kernel" \
  'd["locks"][0]["holders"][0]["pid"]' "$XPID"
check_field "OS exclusive: holder host" \
  'd["locks"][0]["holders"][0]["host"]' "$HOST"
check_field "OS exclusive: holder command" \
  'd["locks"][0]["holders"][0]["command"]' \
  "flock $L sh -c touch \"\$1\"; sleep 30 sh $T/x.ready"
check_field "OS exclusive: holder mode" \
  'd["locks"][0]["holders"][0]["mode"]' exclusive
check_rfc3339 "OS exclusive: since is RFC 3339" \
  'd["locks"][0]["holders"][0]["since"]'
check_field "OS exclusive: no expiry" \
  'd["locks"][0]["holders"][0]["expires"]' null
check_eq "status did not disturb the holder" busy "$(probe "$L" -s)"
kill -KILL -"$XPID"
wait_until_gone "$XPID"

# A descriptor leaked into a forgotten daemon: the holder is the daemon.
rm -f "$T/d.pid"
sh -c 'exec 7>"$1"; flock 7; sleep 30 7>&7 & echo $! >"$2"' sh "$L" \
  "$T/d.pid"
DPID=$(cat "$T/d.pid")
capture "$FL" status --json "$L"
check_field "a leaked descriptor keeps the lock held" \
  'd["locks"][0]["state"]' held
check_field "... and shows the daemon's command" \
  'd["locks"][0]["holders"][0]["command"]' "sleep 30"
kill -KILL "$DPID"
wait_until_gone "$DPID"

# --------------------------------------------- held, OS, shared, two
rm -f "$T/s1.ready" "$T/s2.ready"
spawn flock -s "$L" sh -c 'touch "$1"; sleep 30' sh "$T/s1.ready"
S1=$SPAWNED
spawn flock -s "$L" sh -c 'touch "$1"; sleep 30' sh "$T/s2.ready"
S2=$SPAWNED
wait_for_file "$T/s1.ready"
wait_for_file "$T/s2.ready"
capture "$FL" status --json "$L"
check_rc "OS shared: exit 0" 0
check_field "OS shared: state" 'd["locks"][0]["state"]' held
check_field "OS shared: mode" 'd["locks"][0]["mode"]' shared
check_field "OS shared: two holders" 'len(d["locks"][0]["holders"])' 2
check_field "OS shared: both pids" \
  'sorted(h["pid"] for h in d["locks"][0]["holders"])' \
  "$(/usr/bin/python3 -c 'import sys; print(sorted(map(int, sys.argv[1:])))' \
    "$S1" "$S2")"
check_field "OS shared: every holder is shared" \
  'sorted(set(h["mode"] for h in d["locks"][0]["holders"]))' '["shared"]'
capture "$FL" status "$L"
check_eq "text: two holder lines" 2 "$(grep -c '^  holder:  pid' "$T/out")"
kill -KILL -"$S1" -"$S2"
wait_until_gone "$S1"
wait_until_gone "$S2"

# ------------------------------------------------------- held, soft
SL="$T/soft.lock"
spawn sleep 60
OWNER=$SPAWNED
"$FL" acquire --owner-pid "$OWNER" "$SL"
capture "$FL" status --json "$SL"
check_rc "soft held: exit 0" 0
check_field "soft held: state" 'd["locks"][0]["state"]' held
check_field "soft held: kind" 'd["locks"][0]["kind"]' soft
check_field "soft held: mode" 'd["locks"][0]["mode"]' exclusive
check_field "soft held: one holder" 'len(d["locks"][0]["holders"])' 1
check_field "soft held: owner pid" \
  'd["locks"][0]["holders"][0]["pid"]' "$OWNER"
check_field "soft held: owner host" \
  'd["locks"][0]["holders"][0]["host"]' "$HOST"
check_rfc3339 "soft held: since is RFC 3339" \
  'd["locks"][0]["holders"][0]["since"]'
check_field "soft held: no lease, no expiry" \
  'd["locks"][0]["holders"][0]["expires"]' null
check_field "soft held: our record" 'd["locks"][0]["record_format"]' filelock
check_field "soft held: owner known" 'd["locks"][0]["owner_unknown"]' false
check_field "soft held: the token is not shown" \
  '"token" in d["locks"][0]["holders"][0]' false

# -------------------------------------------------- stale (SIGKILL)
kill -KILL "$OWNER"
wait_until_gone "$OWNER"
capture "$FL" status --json "$SL"
check_rc "soft stale: exit 2" 2
check_field "soft stale: state" 'd["locks"][0]["state"]' stale
check_field "soft stale: kind" 'd["locks"][0]["kind"]' soft
check_field "soft stale: reason names the pid" \
  'd["locks"][0]["stale_reason"]' "process $OWNER is gone"
check_field "soft stale: the dead owner is still shown" \
  'd["locks"][0]["holders"][0]["pid"]' "$OWNER"

# --------------------------------------------------- unknown owner
EL="$T/empty.lock"
: >"$EL"
capture "$FL" status --json --kind soft "$EL"
check_rc "empty marker: held, exit 0" 0
check_field "empty marker: state" 'd["locks"][0]["state"]' held
check_field "empty marker: kind" 'd["locks"][0]["kind"]' soft
check_field "empty marker: owner unknown" \
  'd["locks"][0]["owner_unknown"]' true
check_field "empty marker: why" 'd["locks"][0]["record_error"]' \
  "empty marker"
check_field "empty marker: no holder to show" \
  'len(d["locks"][0]["holders"])' 0

GL="$T/garbage.lock"
printf '{"filelock":1,"pid":' >"$GL"
capture "$FL" status --json --kind soft "$GL"
check_field "truncated record: held" 'd["locks"][0]["state"]' held
check_field "truncated record: owner unknown" \
  'd["locks"][0]["owner_unknown"]' true
check_field "truncated record: the reason is given" \
  'd["locks"][0]["record_error"] is not None' true

# Python filelock's SoftFileLock, holding for real.
PL="$T/py.lock"
rm -f "$T/py.ready"
spawn /usr/bin/python3 -c '
import sys, time, filelock
with filelock.SoftFileLock(sys.argv[1]):
    open(sys.argv[2], "w").close()
    time.sleep(30)' "$PL" "$T/py.ready"
wait_for_file "$T/py.ready"
capture "$FL" status --json --kind soft "$PL"
check_rc "Python SoftFileLock: held, exit 0" 0
check_field "Python SoftFileLock: soft" 'd["locks"][0]["kind"]' soft
check_field "Python SoftFileLock: held" 'd["locks"][0]["state"]' held
kill -KILL "$SPAWNED"

# ------------------------------------------------- several, errors
mkdir "$T/dir.lock"
capture "$FL" status --json "$L" "$T/dir.lock" "$SL"
check_rc "an error's status wins over the states" 66
check_field "all three are reported" 'len(d["locks"])' 3
check_field "the error entry" 'd["locks"][1]["state"]' error
check_field "its stable code" 'd["locks"][1]["error"]["code"]' cannot_open
check_field "its message is the stderr line" \
  '"filelock: " + d["locks"][1]["error"]["message"]' "$(cat "$T/err")"
check_field "the others are still judged" \
  'd["locks"][0]["state"] + " " + d["locks"][2]["state"]' "free stale"
check_field "exit_status matches" 'd["exit_status"]' 66

"$FL" acquire "$T/mine.lock"
capture "$FL" status "$T/mine.lock" "$L"
check_rc "held + free: 1" 1
capture "$FL" status "$T/mine.lock" "$SL" "$L"
check_rc "held + stale + free: 2" 2
capture "$FL" status "$T/mine.lock" "$EL"
check_rc "held + unknown owner (--kind auto: idle file): 1" 1
capture "$FL" status --kind soft "$T/mine.lock" "$EL"
check_rc "held + unknown owner (--kind soft): 0" 0
"$FL" release "$T/mine.lock"

# ------------------------------------------------ not UTF-8 in path
BAD="$T/$(printf 'caf\351').lock"
capture "$FL" status --json "$BAD"
check_rc "a non-UTF-8 path is looked at" 1
check_field "path shows U+FFFD for the bad byte" \
  'd["locks"][0]["path"].endswith("caf\ufffd.lock")' true
check_eq "path_hex holds the exact bytes" ok "$(/usr/bin/python3 -c '
import json, os, sys
d = json.load(open(sys.argv[1]))
same = bytes.fromhex(d["locks"][0]["path_hex"]) == os.fsencode(sys.argv[2])
print("ok" if same else "differ")' "$T/out" "$BAD")"

finish
