# run --slots N, a semaphore: at most N holders of one name at a time.
#  - stress: 8 workers x 12 rounds under --slots 3 count themselves in and
#    out under a separate flock; the count never passes 3 and does reach 3,
#    and no two holders ever share a slot (mkdir markers per FILELOCK_SLOT).
#    The same workers without the semaphore first prove the count can
#    pass 3, so the check can see the failure; the same under --kind soft;
#  - a SIGKILLed holder frees its slot and a waiter takes it at once;
#  - a waiter sleeps in the kernel (no context switches while it waits)
#    and is woken by a release;
#  - one N per name (64 and one line), refusals of -s and of --kind soft
#    on an OS semaphore; an etcd name is etcd's semaphore, not a file;
#  - busy and timeout statuses as the plain lock's; status text and JSON.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

S="$T/sem"

# ---- the stress
cat >"$T/inside.sh" <<'EOF'
# inside.sh DIR: count this holder in, note the count and hold the slot's
# marker a while, count out.
flock "$1/count.lock" sh -c '
  n=$(($(cat "$1/count") + 1)); echo $n >"$1/count"; echo $n >>"$1/seen"' \
  sh "$1"
if [ -n "${FILELOCK_SLOT:-}" ]; then
  mkdir "$1/slot-$FILELOCK_SLOT" 2>/dev/null ||
    echo "slot $FILELOCK_SLOT shared" >>"$1/errors"
fi
sleep 0.03
[ -n "${FILELOCK_SLOT:-}" ] && rmdir "$1/slot-$FILELOCK_SLOT"
flock "$1/count.lock" sh -c '
  echo $(($(cat "$1/count") - 1)) >"$1/count"' sh "$1"
EOF
cat >"$T/worker.sh" <<'EOF'
# worker.sh ROUNDS LOCK|nolock DIR FILELOCK [KIND]
i=0
while [ $i -lt "$1" ]; do
  if [ "$2" = nolock ]; then
    sh "$3/inside.sh" "$3"
  else
    "$4" run --kind "${5:-auto}" --slots 3 -w 120 "$2" -- \
      sh "$3/inside.sh" "$3" ||
      echo "run exited $?" >>"$3/errors"
  fi
  i=$((i + 1))
done
EOF

# stress LOCK|nolock [KIND]: prints the highest count seen.
stress() {
  echo 0 >"$T/count"
  : >"$T/seen"
  _pids=""
  _k=0
  while [ $_k -lt 8 ]; do
    spawn sh "$T/worker.sh" 12 "$1" "$T" "$FL" "${2:-auto}"
    _pids="$_pids $SPAWNED"
    _k=$((_k + 1))
  done
  for _p in $_pids; do wait "$_p"; done
  sort -n "$T/seen" | tail -n 1
}

check_eq "without the semaphore, more than 3 are inside at once" yes \
  "$([ "$(stress nolock)" -gt 3 ] && echo yes || echo "no: $(stress nolock)")"
check_eq "under --slots 3, at most 3 and at times 3 at once" 3 "$(stress "$S")"
check_eq "under --slots 3: every holder counted out" 0 "$(cat "$T/count")"
check_eq "under --slots 3: every run succeeded, no slot shared" "" \
  "$(cat "$T/errors" 2>/dev/null)"
check_eq "the name records its slot count" '{"filelock":1,"slots":3}' \
  "$(cat "$S")"

# The same stress on a soft semaphore: each slot a soft marker.
check_eq "under --kind soft --slots 3, at most 3 and at times 3 at once" 3 \
  "$(stress "$T/soft-sem" soft)"
check_eq "under --kind soft --slots 3: every holder counted out" 0 \
  "$(cat "$T/count")"
check_eq "under --kind soft --slots 3: every run succeeded, no slot shared" \
  "" "$(cat "$T/errors" 2>/dev/null)"
check_eq "a soft semaphore records its kind" \
  '{"filelock":1,"slots":3,"kind":"soft"}' "$(cat "$T/soft-sem")"

# ---- a killed holder frees its slot
start_holder h1 "$S" --slots 3 || finish
start_holder h2 "$S" --slots 3 || finish
start_holder h3 "$S" --slots 3 || finish
capture "$FL" run --slots 3 -n "$S" -- true
check_rc "all slots held: -n is busy" 75
check_one_line "all slots held: one line"
capture "$FL" run --slots 3 -n -E 9 "$S" -- true
check_rc "all slots held: -E sets the status" 9
capture "$FL" run --slots 3 -w 0.5 "$S" -- true
check_rc "all slots held: -w times out" 75
check_between "all slots held: -w waits its time" 0.4 10 "$ELAPSED"
check_grep "all slots held: the timeout names a holder" "$T/err" "timed out after"

# status while all three are held: every slot and its holder.
capture "$FL" status "$S"
check_rc "status: held" 0
check_grep "status: the slot count" "$T/out" "  slots:   3 (3 held)"
for n in 1 2 3; do
  check_grep "status: slot $n held" "$T/out" "  slot $n:  held"
done
for p in "$PID_h1" "$PID_h2" "$PID_h3"; do
  check_grep "status: holder $p shown" "$T/out" "  holder:  pid $p "
done

rm -f "$T/w.got"
spawn "$FL" run --slots 3 "$S" -- sh -c 'echo "$FILELOCK_SLOT" >"$1"; sleep 30' \
  sh "$T/w.got"
W=$SPAWNED
sleep 0.5
check "a waiter waits while all slots are held" test ! -e "$T/w.got"

c0=$(ctxt "$W")
sleep 1
c1=$(ctxt "$W")
check_below "the waiter sleeps in the kernel: no wake-ups in 1s ($c0 -> $c1)" \
  3 "$((c1 - c0))"

t0=$(now)
kill -KILL "$PID_h2"
check "a SIGKILLed holder's slot goes to the waiter" wait_for_file "$T/w.got" 10
check_below "the waiter gets the slot promptly" 5 "$(since "$t0")"
check_eq "the waiter has the dead holder's slot" 2 "$(cat "$T/w.got")"

# status with a holder gone and one slot free.
release_holder h3
capture "$FL" status --json "$S"
check_rc "status --json: held" 0
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/out" "$1"; }
check_eq "json: slots" 3 "$(j 'd["locks"][0]["slots"]')"
check_eq "json: slot states" "held held free" \
  "$(j '" ".join(s["state"] for s in d["locks"][0]["slot_list"])')"
check_eq "json: slot 1's holder" "$PID_h1" \
  "$(j 'd["locks"][0]["slot_list"][0]["holder"]["pid"]')"
check_eq "json: slot 2's holder is the waiter" "$W" \
  "$(j 'd["locks"][0]["slot_list"][1]["holder"]["pid"]')"
check_eq "json: a free slot has no holder" None \
  "$(j 'd["locks"][0]["slot_list"][2]["holder"]')"
check_eq "json: holders lists the slots' holders" "$PID_h1 $W" \
  "$(j '" ".join(str(h["pid"]) for h in d["locks"][0]["holders"])')"
capture "$FL" status --json "$L"
check_eq "json: a plain lock has no slots" "None 0" \
  "$(j 'd["locks"][0]["slots"], len(d["locks"][0]["slot_list"])' |
    tr -d '(),')"
kill -KILL "$W"
release_holder h1
capture "$FL" status "$S"
check_rc "status: all slots free is free" 1
check_grep "status: free slots listed" "$T/out" "  slot 3:  free"
capture "$FL" run -v --slots 3 "$S" -- sh -c 'echo "$FILELOCK_SLOT"'
check_eq "all free: the lowest slot is taken" 1 "$(cat "$T/out")"
check_grep "-v names the slot" "$T/err" "holding slot 1 of 3 of '$S'"

# ---- one N per name, and what has no slots
capture "$FL" run --slots 4 "$S" -- true
check_rc "another N: usage status" 64
check_stderr "another N: one line naming the recorded N" \
  "filelock: cannot lock '$S': it is a semaphore of 3 slots; use --slots 3 with it (its slots are OS locks: not with --kind soft or filelock acquire)"
check "another N: no fourth slot made" test ! -e "$S.slot-4"
: >"$T/plain"
capture "$FL" run --slots 2 "$T/plain" -- true
check_rc "a plain lock file: usage status" 64
check_grep "a plain lock file: says it is no semaphore" "$T/err" \
  "is not a semaphore"
check_eq "a plain lock file: left as it was" "" "$(cat "$T/plain")"
# A lock without --slots on a semaphore's name would keep out none of the
# slots' holders, and a soft locker took the record for a marker held by
# nobody known, for good: refused, whatever the kind (OS and soft forms).
"$FL" run --slots 2 --kind soft "$T/ss" -- true
for sem in "$S:3" "$T/ss:2"; do
  n=${sem##*:}
  sem=${sem%:*}
  for how in "run" "run --kind soft" "run --kind os" "run --fair" "acquire"; do
    if [ "$how" = acquire ]; then
      capture "$FL" acquire -w 2 "$sem"
    else
      # shellcheck disable=SC2086 # the options, on purpose
      capture "$FL" $how -w 2 "$sem" -- true
    fi
    check_rc "$how without --slots on a semaphore of $n: usage" 64
    check_grep "$how without --slots on a semaphore of $n: says use --slots" \
      "$T/err" "semaphore of $n slots; use --slots $n with it"
    check_one_line "$how without --slots on a semaphore of $n: one line"
  done
done
capture "$FL" run --slots 3 -s "$S" -- true
check_rc "-s with --slots: usage" 64
capture "$FL" run --slots 3 --kind soft "$S" -- true
check_rc "--kind soft on an OS semaphore: usage" 64
check_one_line "--kind soft on an OS semaphore: one line"
check "--kind soft on an OS semaphore: no soft slot made" \
  test ! -s "$S.slot-1"
# An etcd name is an etcd semaphore (tests/etcd): here it only needs its
# endpoints, and is not taken as a local file.
capture env -u FILELOCK_ETCD_ENDPOINTS -u ETCDCTL_ENDPOINTS \
  "$FL" run --slots 3 etcd:x -- true
check_rc "an etcd name with --slots: usage" 64
check_grep "an etcd name with --slots: is etcd's" "$T/err" "etcd endpoints"
check "an etcd name with --slots: no local file" test ! -e etcd:x
for bad in 0 65 x; do
  capture "$FL" run --slots "$bad" "$T/bad" -- true
  check_rc "--slots $bad: usage" 64
done
check "bad --slots: nothing made" test ! -e "$T/bad"

finish
