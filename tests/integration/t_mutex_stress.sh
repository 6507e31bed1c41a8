# Mutual exclusion under load, with many real processes:
#  - 8 processes x 50 read-modify-write increments of a counter file under
#    `filelock run`: the final count is exact;
#  - case C01: 6 concurrent runs x 50 rounds of a mkdir-based critical
#    section that shouts OVERLAP if two are ever inside, first plainly and
#    then with each holder unlinking the lock path on its way out (the
#    release that caused C01 in other tools: waiters then hold an inode
#    that no longer has a name, and must notice and retry).
# Each part first proves, without the lock, that it can see the failure.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# ---- the counter
C="$T/counter"
cat >"$T/increment.sh" <<'EOF'
# increment.sh COUNTER: read, pause, write +1 (the pause widens the window)
n=$(cat "$1")
sleep 0.001
echo $((n + 1)) >"$1"
EOF
cat >"$T/worker.sh" <<'EOF'
# worker.sh ROUNDS LOCK|nolock COUNTER ERRORS FILELOCK
i=0
while [ $i -lt "$1" ]; do
  if [ "$2" = nolock ]; then
    sh "${3%/*}/increment.sh" "$3"
  else
    "$5" run -w 120 "$2" -- sh "${3%/*}/increment.sh" "$3" ||
      echo "run exited $?" >>"$4"
  fi
  i=$((i + 1))
done
EOF

# counter_run PROCS ROUNDS LOCK|nolock: prints the final count.
counter_run() {
  echo 0 >"$C"
  _pids=""
  _k=0
  while [ $_k -lt "$1" ]; do
    spawn sh "$T/worker.sh" "$2" "$3" "$C" "$T/errors" "$FL"
    _pids="$_pids $SPAWNED"
    _k=$((_k + 1))
  done
  for _p in $_pids; do wait "$_p"; done
  cat "$C"
}

got=$(counter_run 8 10 nolock)
check_below "self-check: without a lock, 8x10 increments lose updates" \
  80 "$got"

: >"$T/errors"
t0=$(now)
got=$(counter_run 8 50 "$L")
echo "counter: 8 processes x 50 increments took $(since "$t0")s"
check_eq "8 processes x 50 locked increments: count is exact" 400 "$got"
check_eq "every filelock run exited 0" "" "$(cat "$T/errors")"

# ---- C01: the critical section
cat >"$T/crit.sh" <<'EOF'
# crit.sh DIR SECS -- shouts if two holders are ever inside
mkdir "$1/inside" 2>/dev/null || { echo OVERLAP >&2; exit 99; }
sleep "$2"
rmdir "$1/inside"
EOF
cat >"$T/crit_unlink.sh" <<'EOF'
# crit_unlink.sh DIR SECS -- crit.sh, then unlink the lock path before
# releasing (as hermit's helper and one filelock release once did)
sh "${0%/*}/crit.sh" "$1" "$2" || exit
rm -f "$FILELOCK_PATH"
EOF

# c01 ROUNDS PROCS MODE(lock|unlock-on-release|nolock): prints the number
# of OVERLAPs and failed runs seen.
c01() {
  mkdir -p "$T/cs"
  : >"$T/c01.log"
  _r=0
  while [ $_r -lt "$1" ]; do
    _pids=""
    _k=0
    while [ $_k -lt "$2" ]; do
      case $3 in
        nolock) spawn sh "$T/crit.sh" "$T/cs" 0.02 ;;
        lock) spawn "$FL" run -x -w 30 "$L" -- sh "$T/crit.sh" "$T/cs" 0.02 ;;
      esac
      _pids="$_pids $SPAWNED"
      _k=$((_k + 1))
    done
    for _p in $_pids; do
      wait "$_p" || echo "exit $?" >>"$T/c01.log"
    done
    rmdir "$T/cs/inside" 2>/dev/null
    _r=$((_r + 1))
  done
  wc -l <"$T/c01.log"
}

bad=$(c01 2 6 nolock 2>/dev/null)
echo "self-check: $bad failures in 2 rounds x 6 runs without a lock"
check_below "self-check: without a lock, crit.sh reports overlap" "$bad" 0
t0=$(now)
bad=$(c01 50 6 lock 2>"$T/c01.err")
echo "C01: 50 rounds x 6 runs took $(since "$t0")s"
check_eq "C01: 50 rounds x 6 runs: no OVERLAP, no failure" 0 "$bad"
check_no_grep "C01: no OVERLAP on stderr" "$T/c01.err" OVERLAP

# With each holder unlinking the path on release, rounds of simultaneous
# starts all queue on one inode; the danger needs newcomers that arrive
# while others wait on an unlinked inode, so here 6 workers loop.
cat >"$T/c01_worker.sh" <<'EOF'
# c01_worker.sh ROUNDS LOCKER LOCK DIR LOG
i=0
while [ $i -lt "$1" ]; do
  case $2 in
    flock) FILELOCK_PATH=$3 flock -x -w 30 "$3" \
      sh "${4%/*}/crit_unlink.sh" "$4" 0.01 ;;
    *) "$2" run -x -w 30 "$3" -- sh "${4%/*}/crit_unlink.sh" "$4" 0.01 ;;
  esac || echo "exit $?" >>"$5"
  i=$((i + 1))
done
EOF
# c01_unlink ROUNDS LOCKER: prints the number of OVERLAPs/failures.
c01_unlink() {
  mkdir -p "$T/cs"
  : >"$T/c01.log"
  _pids=""
  for _k in 1 2 3 4 5 6; do
    spawn sh "$T/c01_worker.sh" "$1" "$2" "$L" "$T/cs" "$T/c01.log"
    _pids="$_pids $SPAWNED"
  done
  for _p in $_pids; do wait "$_p"; done
  rmdir "$T/cs/inside" 2>/dev/null
  wc -l <"$T/c01.log"
}

# util-linux flock(1) does not check that the path still names the file
# it locked: with the unlinking release it lets two in, which shows that
# this scenario catches a locker without that check.
bad=$(c01_unlink 10 flock 2>/dev/null)
echo "self-check: $bad failures in 6 x 10 flock(1) runs, unlinking"
check_below "self-check: flock(1) with unlink on release overlaps" "$bad" 0
t0=$(now)
bad=$(c01_unlink 40 "$FL" 2>"$T/c01u.err")
echo "C01: 6 x 40 runs, unlinking on release, took $(since "$t0")s"
check_eq "C01: lock path unlinked at each release: no OVERLAP, no failure" \
  0 "$bad"
check_no_grep "C01 unlink: no OVERLAP on stderr" "$T/c01u.err" OVERLAP

finish
