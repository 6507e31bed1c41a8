# Soft semaphores (--kind soft --slots N, acquire --slots N), beside
# t_slots' stress of both kinds:
#  - acquire --slots takes one slot per call for the calling shell, says
#    which (--json "slot", -v), and release gives back exactly that one
#    (the caller's, or --slot K; two of the caller's need --slot);
#  - a SIGKILLed owner's slot is stale, and a waiter already asleep takes
#    it over at once; status shows it stale first;
#  - a waiter sleeps (no wake-ups in a second with three slot threads)
#    and wakes when a slot is released;
#  - one N and one kind per name (64, one line); run (auto) on a soft
#    semaphore takes soft slots, so acquire and run exclude each other;
#  - status lists every slot; break-stale on the name breaks dead slots
#    only.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

S="$T/sem"
j() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/out" "$1"; }

# ---- acquire --slots and release, from this shell
capture "$FL" acquire --slots 2 --json "$S"
check_rc "acquire --slots: taken" 0
check_eq "acquire --slots --json: the slot" 1 "$(j 'd["lock"]["slot"]')"
check_eq "acquire --slots --json: a soft semaphore of 2" "soft 2" \
  "$(j 'd["lock"]["kind"], d["lock"]["slots"]' | tr -d "(),'")"
TOKEN1=$(j 'd["lock"]["token"]')
check_eq "the name records N and the kind" \
  '{"filelock":1,"slots":2,"kind":"soft"}' "$(cat "$S")"
capture "$FL" acquire -v --slots 2 "$S"
check_rc "a second acquire --slots: the second slot" 0
check_grep "-v says which slot" "$T/err" "got slot 2 of 2 of soft semaphore"
capture "$FL" acquire --slots 2 -n "$S"
check_rc "both slots held: busy" 75
check_one_line "both slots held: one line"
check_grep "both slots held: names a holder, this shell" "$T/err" \
  "cannot lock '$S': all 2 slots held, one by pid $$ on "
capture "$FL" release "$S"
check_rc "release of two slots of the caller: usage" 64
check_grep "release: asks which slot" "$T/err" "say which with --slot N"
capture "$FL" release -v --slot 2 "$S"
check_rc "release --slot 2" 0
check_grep "release --slot 2: names it" "$T/err" "released slot 2 of '$S'"
check "release --slot 2: its marker gone" test ! -e "$S.slot-2"
check "release --slot 2: slot 1 untouched" test -e "$S.slot-1"
capture "$FL" release --slot 1 --owner-pid 1 "$S"
check_rc "release of another owner's slot: refused" 77
capture "$FL" release --token "$TOKEN1" --owner-pid 1 "$S"
check_rc "release by the slot's token" 0
capture "$FL" release "$S"
check_rc "release with no slot held: not held" 79
capture "$FL" acquire --slots 2 --fd 9 "$S"
check_rc "--slots with --fd: usage" 64

# ---- run and acquire exclude each other on a soft semaphore
# Owned by another process: a slot of run's own ancestor (this shell)
# would let run in under it (NESTED RUNS in filelock(1)).
spawn sleep 60
O=$SPAWNED
"$FL" acquire --owner-pid "$O" --slots 1 "$T/one" ||
  fail "acquire of a 1-slot semaphore" "$?"
capture "$FL" run --slots 1 -n "$T/one" -- true
check_rc "run (auto) on a soft semaphore: its slot is taken" 75
"$FL" release --owner-pid "$O" "$T/one"
capture "$FL" run --slots 1 -n "$T/one" -- sh -c 'echo "$FILELOCK_KIND $FILELOCK_SLOT"'
check_eq "run (auto) on a soft semaphore: a soft slot" "soft 1" "$(cat "$T/out")"

# ---- one N and one kind per name
capture "$FL" acquire --slots 3 "$S"
check_rc "another N: usage" 64
check_stderr "another N: one line naming the recorded N" \
  "filelock: cannot lock '$S': it is a soft semaphore of 2 slots; use --slots 2 with it"
check "another N: no third slot" test ! -e "$S.slot-3"
"$FL" run --kind os --slots 2 "$T/os" -- true
capture "$FL" acquire --slots 2 "$T/os"
check_rc "acquire on an OS semaphore: usage" 64
check_grep "acquire on an OS semaphore: says why" "$T/err" \
  "its slots are OS locks"
check "acquire on an OS semaphore: no marker made" test ! -s "$T/os.slot-1"
capture "$FL" release "$T/os"
check_rc "release on an OS semaphore: refused" 77

# ---- a killed owner's slot, taken over by a waiter that sleeps
# Owners: processes of their own, killed at will (acquire --owner-pid).
spawn sleep 60
O1=$SPAWNED
spawn sleep 60
O2=$SPAWNED
spawn sleep 60
O3=$SPAWNED
for o in "$O1" "$O2" "$O3"; do
  "$FL" acquire --owner-pid "$o" --slots 3 "$T/k" ||
    fail "owner $o takes a slot" "acquire failed"
done
capture "$FL" status "$T/k"
check_grep "status: 3 of 3 held" "$T/out" "  slots:   3 (3 held)"
for o in "$O1" "$O2" "$O3"; do
  check_grep "status: owner $o shown" "$T/out" "  holder:  pid $o "
done

rm -f "$T/w.got"
spawn "$FL" run --slots 3 "$T/k" -- sh -c 'echo "$FILELOCK_SLOT" >"$1"; sleep 30' \
  sh "$T/w.got"
W=$SPAWNED
# Once its three slot threads are asleep (a thread count of 4 or more).
i=0
while [ "$(ls /proc/"$W"/task 2>/dev/null | wc -l)" -lt 4 ] && [ $i -lt 250 ]; do
  sleep 0.02
  i=$((i + 1))
done
sleep 0.3
check "a waiter waits while all slots are held" test ! -e "$T/w.got"
c0=$(ctxt "$W")
sleep 1
c1=$(ctxt "$W")
check_below "the waiter sleeps: no wake-ups in 1s ($c0 -> $c1)" 3 "$((c1 - c0))"

t0=$(now)
kill -KILL "$O2"
check "a SIGKILLed owner's slot goes to the waiter" wait_for_file "$T/w.got" 10
check_below "the waiter takes it over promptly" 2 "$(since "$t0")"
check_eq "the waiter has the dead owner's slot" 2 "$(cat "$T/w.got")"

# A dead owner's slot nobody waits for: stale in status, broken by name.
kill -KILL "$O3"
wait_until_gone "$O3"
capture "$FL" status "$T/k"
check_grep "status: a dead owner's slot is stale" "$T/out" \
  "  slot 3:  stale (process $O3 is gone)"
capture "$FL" status --json "$T/k"
check_eq "status --json: slot states" "held held stale" \
  "$(j '" ".join(s["state"] for s in d["locks"][0]["slot_list"])')"
check_eq "status --json: slot 2's holder is the waiter" "$W" \
  "$(j 'd["locks"][0]["slot_list"][1]["holder"]["pid"]')"
capture "$FL" break-stale --dry-run "$T/k"
check_rc "break-stale --dry-run: something stale remains" 2
check_grep "break-stale --dry-run: names the slot's marker" "$T/out" \
  "'$T/k.slot-3': would remove stale lock (process $O3 is gone)"
capture "$FL" break-stale --json "$T/k"
check_rc "break-stale: done" 0
check_eq "break-stale --json: outcome" removed "$(j 'd["locks"][0]["outcome"]')"
check_eq "break-stale --json: per slot" "refused_live refused_live removed" \
  "$(j '" ".join(s["outcome"] for s in d["locks"][0]["slot_outcomes"])')"
check "break-stale: the dead slot's marker is gone" test ! -e "$T/k.slot-3"
check "break-stale: live slots kept" test -e "$T/k.slot-1"
check "break-stale: the record kept" test -s "$T/k"

# A release wakes a waiter as well (slot 3 is free now: fill it first).
"$FL" acquire --owner-pid "$O1" --slots 3 "$T/k" || fail "refill" "$?"
rm -f "$T/w2.got"
spawn "$FL" run --slots 3 "$T/k" -- sh -c 'echo "$FILELOCK_SLOT" >"$1"' \
  sh "$T/w2.got"
sleep 0.3
check "a second waiter waits" test ! -e "$T/w2.got"
t0=$(now)
"$FL" release --slot 1 --owner-pid "$O1" "$T/k" || fail "release slot 1" "$?"
check "a released slot goes to the waiter" wait_for_file "$T/w2.got" 10
check_below "the waiter gets it promptly" 2 "$(since "$t0")"
check_eq "the waiter has the released slot" 1 "$(cat "$T/w2.got")"
kill -KILL "$W" "$O1"

finish
