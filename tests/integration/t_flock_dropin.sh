# filelock invoked as `flock`: util-linux flock(1)'s command line and exit
# statuses, so that scripts written for it run unchanged. Each scenario
# runs against our alias and, where util-linux flock(1) is installed,
# against it too, and both must give the status a flock(1) script expects.
# The scenarios are those util-linux's own flock tests cover: a held lock
# refuses -n with status 1, readers share, a writer and a reader exclude
# each other, -w gives up on time, -E sets the conflict status, directories
# lock, `exec 9>file; flock 9` and `flock -u 9`, -c, the command's status,
# and -o keeping the descriptor from the command.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

# The alias is the program under another name, as the install makes it.
ln -s "$FL" "$T/flock"
OURS=$T/flock
REAL=$(command -v flock)
[ "$REAL" = "$OURS" ] && REAL=
[ -n "$REAL" ] || echo "SKIP: cross-checks: util-linux flock(1) is not installed"

# both NAME STATUS ARGS...: `flock ARGS` exits STATUS, ours and util-linux's.
both() {
  _name=$1
  _want=$2
  shift 2
  capture "$OURS" "$@"
  check_rc "$_name (alias)" "$_want"
  [ -n "$REAL" ] || return 0
  capture "$REAL" "$@"
  check_rc "$_name (util-linux)" "$_want"
}

# hold NAME PROGRAM [OPTIONS] PATH: PROGRAM (a flock) holds PATH with
# OPTIONS until release_holder NAME; returns once the lock is held.
hold() {
  _n=$1
  _prog=$2
  shift 2
  rm -f "$T/$_n.ready" "$T/$_n.go"
  spawn "$_prog" "$@" sh -c '
    touch "$1.ready"
    while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/$_n"
  eval "PID_$_n=\$SPAWNED"
  wait_for_file "$T/$_n.ready" 10 || fail "holder $_n starts" "never ran"
}

# --------------------------------------------- exclusive, shared, timeouts

hold x "$OURS" "$L"
both "a held lock refuses -n with status 1" 1 -n "$L" true
both "-w 0 is -n" 1 -w 0 "$L" true
both "a held lock refuses -s -n too" 1 -s -n "$L" true
both "-E sets the conflict status" 42 -n -E 42 "$L" true
rm -f "$T/ran"
both "-E 0 is allowed" 0 -n -E 0 "$L" touch "$T/ran"
check "... and the command does not run when the lock is busy" \
  test ! -e "$T/ran"
both "--nonblock, --nb and --nonblocking are -n" 1 --nonblock "$L" true
capture "$OURS" --nb "$L" true
check_rc "--nb (alias)" 1
capture "$OURS" -n "$L" true
check_eq "a busy lock is silent without --verbose" "" "$(cat "$T/err")"
capture "$OURS" -n --verbose "$L" true
check_one_line "--verbose says why the lock was not got" "flock: "

capture "$OURS" -w 0.4 "$L" true
check_rc "-w 0.4 on a held lock times out with status 1 (alias)" 1
check_between "... after about 0.4 s (alias)" 0.35 5 "$ELAPSED"
if [ -n "$REAL" ]; then
  capture "$REAL" -w 0.4 "$L" true
  check_rc "-w 0.4 times out with status 1 (util-linux)" 1
  check_between "... after about 0.4 s (util-linux)" 0.35 5 "$ELAPSED"
fi
both "-w with -E" 7 -w 0.1 -E 7 "$L" true
both "a value given twice: the last counts" 8 -E 3 -w 5 -E 8 -w 0.1 "$L" true

# A waiter without -w gets the lock once the holder lets go.
( sleep 0.3; touch "$T/x.go" ) &
capture "$OURS" "$L" echo got
check_rc "a blocked waiter runs its command once the lock is free" 0
check_eq "... and its output is the command's" got "$(cat "$T/out")"
wait "$PID_x"

hold s "$OURS" -s "$L"
both "readers share: -s -n next to -s" 0 -s -n "$L" true
both "a writer is refused next to a reader" 1 -x -n "$L" true
both "-e is -x" 1 -e -n "$L" true
both "the last of -s and -x counts" 1 -s -x -n "$L" true
release_holder s

# The alias and util-linux exclude each other, both ways.
if [ -n "$REAL" ]; then
  hold r "$REAL" "$L"
  capture "$OURS" -n "$L" true
  check_rc "util-linux's lock refuses the alias" 1
  release_holder r
fi

# ----------------------------------------------------- the command's fate

both "the command's status is passed through" 7 "$L" sh -c 'exit 7'
both "a command killed by SIGTERM gives 143" 143 "$L" sh -c 'kill -TERM $$'
both "-c runs a string" 3 "$L" -c 'exit 3'
both "--command is -c" 4 "$L" --command 'exit 4'
both "-c with two words is a usage error" 64 "$L" -c 'exit 3' extra

# -c uses $SHELL.
printf '#!/bin/sh\necho "via my shell" >"%s"\nexec /bin/sh "$@"\n' \
  "$T/shell.out" >"$T/myshell"
chmod +x "$T/myshell"
for prog in "$OURS" $REAL; do
  rm -f "$T/shell.out"
  SHELL=$T/myshell capture "$prog" "$L" -c 'exit 5'
  check_rc "-c runs \$SHELL and passes its status ($prog)" 5
  check "-c ran \$SHELL ($prog)" test -e "$T/shell.out"
  SHELL= capture "$prog" "$L" -c 'exit 6'
  check_rc "-c with SHELL empty runs /bin/sh ($prog)" 6
done

# The command inherits the descriptor, and so does what it leaves behind:
# a daemon keeps the lock. -o closes it in the command.
owns_fd='for fd in /proc/$$/fd/*; do
  [ "$(readlink "$fd")" = "$0" ] && echo has-fd
done; true'
for prog in "$OURS" $REAL; do
  capture "$prog" "$L" sh -c "$owns_fd" "$L"
  check_eq "the command inherits the lock's descriptor ($prog)" has-fd \
    "$(cat "$T/out")"
  capture "$prog" -o "$L" sh -c "$owns_fd" "$L"
  check_eq "-o: the command has no descriptor on the lock ($prog)" "" \
    "$(cat "$T/out")"

  capture "$prog" "$L" sh -c '
    sleep 60 </dev/null >/dev/null 2>&1 &
    echo $! >"$0/heir.bgpid"' "$T"
  check_rc "flock returns while the daemon runs ($prog)" 0
  check_eq "the daemon keeps the lock ($prog)" busy "$(probe "$L")"
  kill "$(cat "$T/heir.bgpid")"
  wait_until_gone "$(cat "$T/heir.bgpid")" 5
  check_eq "free once the daemon is gone ($prog)" free "$(probe "$L")"

  capture "$prog" -o "$L" sh -c '
    sleep 60 </dev/null >/dev/null 2>&1 &
    echo $! >"$0/heir.bgpid"' "$T"
  check_eq "-o: a daemon does not keep the lock ($prog)" free "$(probe "$L")"
  kill "$(cat "$T/heir.bgpid")"
done

# -F: the command replaces flock and holds the lock itself.
both "-F passes the command's status" 9 -F "$L" sh -c 'exit 9'
capture "$OURS" -F "$L" sh -c 'flock -n "$0" true; echo $?' "$L"
check_eq "-F: the command holds the lock (alias)" 1 "$(cat "$T/out")"

# A flock inside a command that holds the same lock waits for it like any
# other process: -n answers busy (no nested-run shortcut).
both "a nested -n on the same lock is refused" 1 \
  "$L" "$OURS" -n "$L" true

# -------------------------------------------------- directories, symlinks

mkdir "$T/dir"
hold d "$OURS" "$T/dir"
both "a directory is locked: -n is refused" 1 -n "$T/dir" true
release_holder d
check_rc "the directory's holder exits 0" 0
both "a free directory is locked and the command runs" 0 -n "$T/dir" true

: >"$T/target"
ln -s "$T/target" "$T/link"
hold l "$OURS" "$T/link"
both "a symlink is followed: its target is locked" 1 -n "$T/target" true
release_holder l

# Not util-linux's: a link to nothing is refused, never created through.
ln -s "$T/nowhere" "$T/dangling"
capture "$OURS" "$T/dangling" true
check_rc "a dangling symlink is refused: 66" 66
check "... and its target is not created" test ! -e "$T/nowhere"
check_grep "... and the message says why" "$T/err" \
  "a symbolic link to nothing"

# ------------------------------------------------------ descriptor form

exec 9>"$L"
for prog in "$OURS" $REAL; do
  capture "$prog" -n 9
  check_rc "flock -n 9 locks the shell's descriptor ($prog)" 0
  check_eq "the lock outlives flock 9 ($prog)" busy "$(probe "$L")"
  capture "$prog" -u 9
  check_rc "flock -u 9 unlocks it ($prog)" 0
  check_eq "free after flock -u 9 ($prog)" free "$(probe "$L")"
  capture "$prog" -s 9
  check_rc "flock -s 9 ($prog)" 0
  check_eq "flock -s 9 shares with readers ($prog)" free "$(probe "$L" -s)"
  "$prog" -u 9
done
hold y "$OURS" "$L"
both "flock -n 9 on a lock held elsewhere: 1" 1 -n 9
both "flock -w 0.2 -E 3 9 on a lock held elsewhere: 3" 3 -w 0.2 -E 3 9
release_holder y
exec 9>&-

# --------------------------------------------------------- failures

both "no arguments: usage" 64
both "a lone path is not a descriptor: usage" 64 "$L"
both "-F with -o: usage" 64 -F -o "$L" true
both "-E 256: usage" 64 -E 256 "$L" true
both "-w with a bad value: usage" 64 -w soon "$L" true
both "-c before the path: usage" 64 -c true "$L"
both "an unknown option: usage" 64 --frobnicate "$L" true
both "a descriptor that is not open: 65" 65 8
both "-u of a descriptor that is not open: 65" 65 -u 8
both "a lock file in a missing directory: 66" 66 "$T/no/such/x" true
both "a negative -w: 71, util-linux's failure to arm its timer" 71 \
  -w -1 "$L" true

# Permission denied is 66 to flock(1) (77 to filelock run).
chmod 755 "$T"
mkdir "$T/nw"
chmod 755 "$T/nw"
for prog in "$OURS" $REAL; do
  capture as_nobody "$prog" "$T/nw/new.lock" true
  check_rc "no permission to create the lock file: 66 ($prog)" 66
done
if userns_works; then
  mkdir "$T/ro"
  for prog in "$OURS" $REAL; do
    capture in_ro_mount "$T/ro" "$prog" "$T/ro/new.lock" true
    check_rc "a lock file on a read-only filesystem: 73 ($prog)" 73
  done
else
  echo "SKIP: 73: unshare -rm (user+mount namespace) is unavailable"
fi

both "a command that does not exist: 69" 69 "$L" "$T/no-such-command"
both "a command that cannot be executed: 69" 69 "$L" "$T"
both "-F and a command that does not exist: 69" 69 -F "$L" "$T/nope"

capture "$OURS" "$T/no/such/x" true
check_one_line "a failure is one line that starts with flock:" "flock: "
check_grep "... and names the path" "$T/err" "$T/no/such/x"

# --verbose reports on stdout, as flock(1) does.
for prog in "$OURS" $REAL; do
  capture "$prog" --verbose "$L" true
  check_grep "--verbose says how long locking took ($prog)" "$T/out" \
    "flock: getting lock took "
  check_grep "--verbose names the command ($prog)" "$T/out" \
    "flock: executing true"
done

# The man page's section on the alias names every option --help lists.
MAN="$FILELOCK_TESTS_DIR/../man/filelock.1"
section=$(sed -n '/^\.SH INVOKED AS flock/,/^\.SH EXIT STATUS/p' "$MAN")
missing=
for opt in $("$OURS" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
  roff=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
  printf '%s\n' "$section" | grep -q -- "$roff" || missing="$missing $opt"
done
check_eq "filelock(1), INVOKED AS flock, names every option of --help" "" \
  "$missing"

# Invoked under its own name the program is filelock, not flock.
capture "$FL" -n "$L" true
check_rc "as filelock, flock's command line is a usage error" 64

finish
