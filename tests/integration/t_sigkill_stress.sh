# Processes killed with SIGKILL at random moments while they take, hold and
# release a lock, with six workers contending all the while:
#  - OS lock and soft lock, filelock alone killed: only its guardian stands
#    between the command and a free lock (for the soft lock, as the
#    marker's keeper), and killed waiters and removers leave their claims
#    and temporary files behind, which must not stick the lock;
#  - soft lock, a run's whole process group killed at once (a crash, the
#    OOM killer, a cron job's session torn down): its marker is left
#    behind and must be found stale and taken over.
# After each: no two holders ever (a critical section that logs its steps,
# checked for interleaving), no completed update lost, and the lock not
# stuck (a last run gets it). The checker first shows it sees overlap
# without the lock.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

SECONDS_EACH=${FILELOCK_STRESS_SECONDS:-6}

# crit.sh DIR: the critical section. Its three log lines are written with
# O_APPEND (atomic for lines this short); a killed section stops writing,
# so its lines stay together. Another holder's line inside a section's run
# of lines is an overlap. The counter is replaced by rename, so that a kill
# mid-update leaves the old or the new value, never a torn one.
cat >"$T/crit.sh" <<'EOF'
d=$1
id=$$.$(date +%s%N)
echo "E $id" >>"$d/log"
n=$(cat "$d/counter")
sleep 0.003
echo $((n + 1)) >"$d/counter.$$"
mv "$d/counter.$$" "$d/counter"
echo "M $id" >>"$d/log"
sleep 0.002
echo "L $id" >>"$d/log"
EOF

# worker.sh DIR FILELOCK LOCK KIND|nolock STOPFILE: rounds until STOPFILE
# exists. Each run is a process group of its own (setsid), so that the
# killer can take out a run with everything under it.
cat >"$T/worker.sh" <<'EOF'
d=$1
while [ ! -e "$5" ]; do
  if [ "$4" = nolock ]; then
    sh "$d/crit.sh" "$d"
  else
    setsid "$2" run --kind "$4" -w 60 "$3" -- sh "$d/crit.sh" "$d"
  fi
done
EOF

# overlaps LOG: the ids whose lines are not all together, one per line.
overlaps() {
  awk '{ if ($2 != last) { if (seen[$2]++) print $2; last = $2 } }' "$1" |
    sort -u
}

# stress KIND|nolock HOW SECONDS: six workers for SECONDS while, with HOW
# = alone or group, a killer SIGKILLs a random run (filelock alone, or its
# whole process group) every few milliseconds. Sets KILLS.
stress() {
  rm -f "$T/log" "$T/stop" "$T"/counter.*
  echo 0 >"$T/counter"
  : >"$T/log"
  _workers=""
  _k=0
  while [ $_k -lt 6 ]; do
    spawn sh "$T/worker.sh" "$T" "$FL" "$L" "$1" "$T/stop"
    _workers="$_workers $SPAWNED"
    _k=$((_k + 1))
  done
  KILLS=0
  _end=$(awk -v t="$(now)" -v s="$3" 'BEGIN { printf "%.3f", t + s }')
  while awk -v d="$_end" -v t="$(now)" 'BEGIN { exit !(t < d) }'; do
    sleep "0.0$(($(od -An -N1 -tu1 /dev/urandom) % 9 + 1))"
    [ "$2" = none ] && continue
    # A run of a random worker: the worker's child is filelock (setsid
    # execs it in place), and its pid is its process group's id.
    _pick=$(($(od -An -N1 -tu1 /dev/urandom) % 6 + 1))
    # shellcheck disable=SC2086 # the list is split on purpose
    _w=$(echo $_workers | cut -d' ' -f"$_pick")
    _run=$(pgrep -P "$_w" -x filelock | head -n 1)
    # Every other group kill goes to the holder's group (found through its
    # command), so that holders are hit as often as waiters.
    if [ "$2" = group ] && [ $((KILLS % 2)) -eq 1 ]; then
      _c=$(pgrep -f "$T/crit.sh" | head -n 1)
      [ -n "$_c" ] && _run=$(ps -o pgid= -p "$_c" | tr -d ' ')
    fi
    [ -n "$_run" ] || continue
    if [ "$2" = group ]; then
      kill -KILL "-$_run" 2>/dev/null && KILLS=$((KILLS + 1))
    else
      kill -KILL "$_run" 2>/dev/null && KILLS=$((KILLS + 1))
    fi
  done
  touch "$T/stop"
  for _w in $_workers; do wait "$_w"; done
}

# ---- self-check: without the lock the checker sees sections interleave.
stress nolock none 1
check "self-check: without a lock, sections overlap" \
  test -n "$(overlaps "$T/log")"

for mode in os:alone soft:alone soft:group; do
  kind=${mode%%:*}
  how=${mode#*:}
  rm -f "$L"
  stress "$kind" "$how" "$SECONDS_EACH"
  entered=$(grep -c '^E ' "$T/log")
  completed=$(grep -c '^L ' "$T/log")
  counter=$(cat "$T/counter")
  echo "$kind: $KILLS runs killed ($how), $entered sections entered," \
    "$completed completed, counter $counter"
  check_eq "$kind, killed $how: never two holders" "" \
    "$(overlaps "$T/log" | head -n 3 | tr '\n' ' ')"
  check "$kind: kills really happened ($KILLS)" test "$KILLS" -ge 10
  check "$kind: work went on between kills ($completed completed)" \
    test "$completed" -ge 20
  check "$kind: no completed update lost ($counter >= $completed)" \
    test "$counter" -ge "$completed"
  check "$kind: no update counted twice ($counter <= $entered)" \
    test "$counter" -le "$entered"
  # Nothing left holding it: OS locks are freed by the kernel, a soft
  # marker of a killed run is provably stale and taken over.
  capture "$FL" run --kind "$kind" -w 10 "$L" -- true
  check_rc "$kind: the lock is not stuck after the kills" 0
  check_below "$kind: ... and is had at once" 5 "$ELAPSED"
  if [ "$kind" = soft ]; then
    # What the killed left beside the lock, all of it provably dead now.
    "$FL" break-stale "$L" >/dev/null
    check_eq "$kind, killed $how: break-stale sweeps every leftover" "" \
      "$(cd "$T" && ls -A | grep -F ".$(basename "$L")." | head -n 3)"
  fi
done

finish
