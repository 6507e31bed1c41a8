# filelock acquire --fd N / release --fd N: the lock on a descriptor the
# shell opened outlives the command, excludes util-linux flock(1), and obeys
# -s, -n, -w and -E as `flock N` does.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

exec 9>"$L"

capture "$FL" acquire --fd 9
check_rc "acquire --fd 9 succeeds" 0
check_eq "the lock stays after the command returned: flock(1) is kept out" \
  busy "$(probe "$L")"
check_eq "flock(1) is kept out of a shared lock too" busy "$(probe "$L" -s)"

capture "$FL" release --fd 9
check_rc "release --fd 9 succeeds" 0
check_eq "after release flock(1) gets the lock" free "$(probe "$L")"

# A flock(1) holder keeps our descriptor out.
rm -f "$T/h.ready"
spawn flock "$L" sh -c 'touch "$1"; sleep 30' sh "$T/h.ready"
FLOCK_PID=$SPAWNED
wait_for_file "$T/h.ready"

capture "$FL" acquire -n --fd 9
check_rc "-n on a descriptor flock(1) holds: busy" 75
check_stderr "the busy message names the descriptor, path and holder" \
  "filelock: cannot lock descriptor 9 ('$L'): held by pid $FLOCK_PID (flock $L sh -c touch \"\$1\"; sleep 30 sh $T/h.ready)"

capture "$FL" acquire -n -E 42 --fd 9
check_rc "-E changes the busy status" 42

capture "$FL" acquire -w 0.3 --fd 9
check_rc "-w 0.3 on a held descriptor: busy" 75
check_between "-w 0.3 waits about 0.3 s" 0.25 5 "$ELAPSED"
check_grep "the timeout message says how long it waited" "$T/err" \
  "timed out after 300ms waiting for descriptor 9"

# A caller that blocks SIGALRM must not turn -w into an endless wait.
capture /usr/bin/python3 -c '
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
os.execv(sys.argv[1], sys.argv[1:])' "$FL" acquire -w 0.3 --fd 9
check_rc "-w with SIGALRM blocked by the caller still times out" 75
check_below "-w with SIGALRM blocked ends in time" 5 "$ELAPSED"

# A waiter with no timeout gets the lock when flock(1) lets go.
( sleep 0.3; kill -- -"$FLOCK_PID" ) &
capture "$FL" acquire --fd 9
check_rc "a blocked acquire --fd gets the lock once flock(1) exits" 0
check_below "... promptly" 5 "$ELAPSED"
check_eq "and holds it afterwards" busy "$(probe "$L")"
"$FL" release --fd 9

# Shared descriptors coexist with flock -s, and keep flock -x out.
rm -f "$T/s.ready"
spawn flock -s "$L" sh -c 'touch "$1"; sleep 30' sh "$T/s.ready"
wait_for_file "$T/s.ready"
capture "$FL" acquire -s -n --fd 9
check_rc "acquire -s --fd next to flock -s" 0
check_eq "a shared descriptor lock keeps flock -x out" busy "$(probe "$L")"
check_eq "... and lets flock -s in" free "$(probe "$L" -s)"
"$FL" release --fd 9
kill -- -"$SPAWNED"

# Bad descriptors are usage errors that name the descriptor.
exec 8>&-
capture "$FL" acquire --fd 8
check_rc "acquire on a closed descriptor: usage error" 64
check_stderr "acquire on a closed descriptor says so" \
  "filelock: cannot lock descriptor 8: Bad file descriptor (open it in the shell first, e.g. exec 8>FILE)"
capture "$FL" release --fd 8
check_rc "release on a closed descriptor: usage error" 64
check_one_line "release on a closed descriptor says so in one line"
capture "$FL" acquire --fd -1
check_rc "a negative descriptor is a usage error" 64
capture "$FL" acquire --fd 9 --mode 0600
check_rc "--mode with --fd is a usage error" 64

exec 9>&-
finish
