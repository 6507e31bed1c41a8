# run --fair: waiters get the lock in the order they asked for it.
#  - five waiters queued one after another behind a holder (each started
#    once the one before is visibly queued) run in exactly that order, and
#    status shows the queue in that order (text and JSON);
#  - a waiter SIGKILLed while queued blocks nobody behind it and leaves no
#    live ticket;
#  - -n and -w leave no ticket behind, SIGINT no live one;
#  - --kind soft, --slots and -s with --fair are refused (64, one line);
#  - C26: holders that ask again the moment they release overtake a plain
#    waiter round after round (the self-check), a --fair one only as often
#    as there were tickets before its own. This is the part that fails
#    without the queue: Linux happens to wake waiters that queued one by
#    one, as in the first part, in order anyway.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

Q="$L.fair"

# The tickets published in the queue (live or not yet removed).
tickets() {
  ls "$Q" 2>/dev/null | grep -c '^[0-9][0-9]*$'
}

# wait_tickets N: 0 once exactly N tickets are there, 1 after 10 s.
wait_tickets() {
  _i=0
  while [ "$(tickets)" != "$1" ]; do
    [ $_i -ge 500 ] && return 1
    sleep 0.02
    _i=$((_i + 1))
  done
}

# The pids status --json lists in the queue, oldest first, on one line.
queue_pids() {
  "$FL" status --json "$L" | /usr/bin/python3 -c '
import json, sys
print(" ".join(str(q["pid"]) for q in json.load(sys.stdin)["locks"][0]["queue"]))'
}

# ---- arrival order
start_holder h "$L" --fair || finish
: >"$T/order"
expected="$PID_h"
for k in 1 2 3 4 5; do
  spawn "$FL" run --fair "$L" -- sh -c 'echo "$1" >>"$2"' sh "$k" "$T/order"
  eval "W$k=\$SPAWNED"
  expected="$expected $SPAWNED"
  wait_tickets $((k + 1)) || fail "waiter $k queues" "$(tickets) tickets"
done
check_eq "status --json lists the queue in arrival order" "$expected" \
  "$(queue_pids)"
capture "$FL" status "$L"
check_grep "status text shows the queue" "$T/out" \
  "queue:   6 (fair, oldest first)"
check_grep "status text marks the holder's ticket" "$T/out" "[holds the lock]"
release_holder h
for k in 1 2 3 4 5; do eval "wait \$W$k"; done
check_eq "five waiters ran in arrival order" "1 2 3 4 5" \
  "$(tr '\n' ' ' <"$T/order" | sed 's/ $//')"
check_eq "every ticket is gone afterwards" 0 "$(tickets)"

# ---- a waiter killed while queued
start_holder h "$L" --fair || finish
: >"$T/order"
spawn "$FL" run --fair "$L" -- sh -c 'echo a >>"$1"' sh "$T/order"
A=$SPAWNED
wait_tickets 2 || fail "waiter a queues" "$(tickets) tickets"
spawn "$FL" run --fair "$L" -- sh -c 'echo b >>"$1"' sh "$T/order"
B=$SPAWNED
wait_tickets 3 || fail "waiter b queues" "$(tickets) tickets"
spawn "$FL" run --fair "$L" -- sh -c 'echo c >>"$1"' sh "$T/order"
C=$SPAWNED
wait_tickets 4 || fail "waiter c queues" "$(tickets) tickets"
kill -KILL "$B"
wait "$B" 2>/dev/null
# c, queued behind b, removes the dead ticket at once.
check "the killed waiter's ticket is removed by its successor" wait_tickets 3
check_eq "the queue no longer lists the killed waiter" "$PID_h $A $C" \
  "$(queue_pids)"
release_holder h
wait "$A"
wait "$C"
check_eq "the waiters behind the killed one still run, in order" "a c" \
  "$(tr '\n' ' ' <"$T/order" | sed 's/ $//')"
check_eq "no ticket is left" 0 "$(tickets)"

# ---- giving up leaves no ticket
start_holder h "$L" --fair || finish
capture "$FL" run --fair -n "$L" -- true
check_rc "-n with the lock held is busy" 75
check_eq "-n leaves no ticket" 1 "$(tickets)"
capture "$FL" run --fair -w 0.3 "$L" -- true
check_rc "-w runs out" 75
check_eq "-w leaves no ticket" 1 "$(tickets)"
spawn "$FL" run --fair "$L" -- true
I=$SPAWNED
wait_tickets 2 || fail "the waiter to interrupt queues" "$(tickets) tickets"
kill -INT "$I"
wait "$I"
check_eq "SIGINT ends the wait (130)" 130 "$?"
# Killed by the signal, it leaves its ticket unlocked: out of the queue,
# and removed by whoever queues next.
check_eq "SIGINT leaves no live ticket" "$PID_h" "$(queue_pids)"
release_holder h
capture "$FL" run --fair -n "$L" -- true
check_rc "-n with the lock free takes it" 0
check_eq "the next waiter removed the interrupted one's ticket" 0 "$(tickets)"

# ---- paths that cannot be a lock: 66 and one line, as without --fair
# (the wait used to look at them first and call them an internal error)
mkdir "$T/adir"
mkfifo "$T/afifo"
for bad in "$T/adir/" "$T/afifo"; do
  capture "$FL" run --fair "$bad" -- true
  check_rc "--fair on $(basename "$bad"): cannot open" 66
  check_one_line "--fair on $(basename "$bad"): one line"
done
: >"$T/q.lock.fair"
capture "$FL" run --fair "$T/q.lock" -- true
check_rc "a file where the queue directory goes: cannot open" 66
check_grep "a file where the queue directory goes: says so" "$T/err" \
  "its fair queue, the name with .fair added, is not a directory"

# ---- refusals
for bad in "--kind soft" "--slots 2" "-s"; do
  # shellcheck disable=SC2086 # two words on purpose
  capture "$FL" run --fair $bad "$L" -- true
  check_rc "--fair $bad is refused" 64
  check_one_line "--fair $bad: one line"
done

# ---- the guarantee: holders that ask again the moment they release
# (C26). Behind a holder, three test helpers queue, each to take the lock,
# write a round to loop.log, release and ask again at once, and then a
# victim. Once the holder lets go, a plain victim is overtaken round after
# round: the releaser asks again before the woken victim runs (the
# self-check). A --fair victim is overtaken exactly by the three tickets
# out before its own, whose owners then queue behind it.
H=${FILELOCK_TEST_HELPER:?FILELOCK_TEST_HELPER names the test helper}
rounds() { grep -c . "$T/loop.log"; }
# overtaken [--fair]: sets OVERTAKEN to the rounds the loopers made before
# the victim got in (or before its -w 3 ran out).
overtaken() {
  OVERTAKEN=""
  start_holder g "$L" "$@" || return 1
  : >"$T/loop.log"
  rm -f "$T/at"
  loopers=""
  for _g in 1 2 3; do
    if [ $# -gt 0 ]; then
      spawn "$H" fair-loop "$L" "$T/loop.log" 1000000 >/dev/null
    else
      spawn "$H" fair-loop "$L" "$T/loop.log" 1000000 0 plain >/dev/null
    fi
    loopers="$loopers $SPAWNED"
    [ $# -gt 0 ] && { wait_tickets $((_g + 1)) || return 1; }
  done
  [ $# -gt 0 ] || sleep 0.3
  spawn "$FL" run "$@" -w 3 "$L" -- \
    sh -c 'grep -c . "$1" >"$2"' sh "$T/loop.log" "$T/at"
  _v=$SPAWNED
  if [ $# -gt 0 ]; then wait_tickets 5 || return 1; else sleep 0.3; fi
  release_holder g
  wait "$_v"
  if [ -s "$T/at" ]; then OVERTAKEN=$(cat "$T/at"); else OVERTAKEN=$(rounds); fi
  for _p in $loopers; do kill -KILL "$_p" 2>/dev/null; done
  for _p in $loopers; do wait "$_p" 2>/dev/null; done
}
overtaken
check "self-check: a plain waiter is overtaken round after round ($OVERTAKEN)" \
  [ "${OVERTAKEN:-0}" -ge 20 ]
overtaken --fair
check_eq "a --fair waiter is overtaken only by the three queued before it" \
  3 "$OVERTAKEN"

finish
