# Every exit status `filelock run` can produce today (cli/exit_codes.hpp),
# with the one-line message of each error. Busy (75) and -E are in
# t_busy_timeout.sh. Cases C06 (exit-status ambiguity) and part of C22.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# ---- the child's own status passes through
for code in 0 1 3 255; do
  capture "$FL" run "$L" -- sh -c "exit $code"
  check_rc "child exit $code passes through" "$code"
  check_eq "child exit $code: nothing on stderr" "" "$(cat "$T/err")"
done
capture "$FL" run "$L" -c 'exit 4'
check_rc "-c STRING: status of /bin/sh -c passes through" 4
capture env SHELL=/bin/false "$FL" run "$L" -c 'echo "$0"'
check_eq "-c runs /bin/sh, not \$SHELL" "/bin/sh" "$(cat "$T/out")"

# ---- 128+N when the child dies of signal N (C06: 143 for SIGTERM)
for sig in TERM:143 KILL:137 INT:130 HUP:129 SEGV:139; do
  name=${sig%%:*}
  capture "$FL" run "$L" -- sh -c "kill -$name \$\$; sleep 5"
  check_rc "child killed by SIG$name -> ${sig#*:}" "${sig#*:}"
done
capture "$FL" run "$L" -- sh -c 'exit 1'
check_rc "C06: a failed command (1) is not busy" 1

# ---- 64: usage errors, one line each, nothing run, no lock file made
U="$T/u.lock"
usage() {
  # usage NAME EXPECTED-STDERR-OR-EMPTY ARGS...
  _uname=$1
  _umsg=$2
  shift 2
  rm -f "$T/ran"
  capture "$FL" "$@"
  check_rc "usage: $_uname -> 64" 64
  if [ -n "$_umsg" ]; then
    check_stderr "usage: $_uname message" "$_umsg"
  else
    check_one_line "usage: $_uname: one line on stderr"
  fi
  check "usage: $_uname: command not run" test ! -e "$T/ran"
  check "usage: $_uname: no lock file created" test ! -e "$U"
}
ran="touch $T/ran"
bad_dur="(expected a number of seconds, or a number with ms, s, m or h)"
usage "bad option before --" \
  "filelock: run: unexpected argument '--bogus' before --" \
  run --bogus "$U" -- sh -c "$ran"
usage "bad option, no --" \
  "filelock: run: unknown option '--bogus' (a command that starts with '-' goes after --)" \
  run --bogus "$U" sh -c "$ran"
usage "CLI11: -s with -x" "filelock: --shared excludes --exclusive" \
  run -s -x "$U" -- sh -c "$ran"
usage "CLI11: -n with -w" "filelock: --nonblock excludes --timeout" \
  run -n -w 1 "$U" -- sh -c "$ran"
usage "CLI11: missing LOCK" "filelock: LOCK is required" run
usage "CLI11: no subcommand" "" --bogus
usage "CLI11: -E not a number" "" run -E abc "$U" -- sh -c "$ran"
usage "CLI11: --mode not octal" "" run --mode 0999 "$U" -- sh -c "$ran"
usage "duration abc" "filelock: --timeout: invalid duration 'abc' $bad_dur" \
  run -w abc "$U" -- sh -c "$ran"
usage "duration -3" "filelock: --timeout: negative duration '-3'" \
  run -w -3 "$U" -- sh -c "$ran"
usage "duration empty" "filelock: --timeout: empty duration" \
  run -w "" "$U" -- sh -c "$ran"
usage "duration nan" "filelock: --timeout: invalid duration 'nan' $bad_dur" \
  run -w nan "$U" -- sh -c "$ran"
usage "duration 1e999" "filelock: --timeout: duration '1e999' is too large" \
  run -w 1e999 "$U" -- sh -c "$ran"
usage "duration inf" "filelock: --timeout: invalid duration 'inf' $bad_dur" \
  run -w inf "$U" -- sh -c "$ran"
usage "duration 2x (unknown unit)" "" run -w 2x "$U" -- sh -c "$ran"
usage "--timeout=-0.5" "" run --timeout=-0.5 "$U" -- sh -c "$ran"
usage "empty command" \
  "filelock: run: no command given (use LOCK -- COMMAND or LOCK -c 'STRING')" \
  run "$U" --
usage "no command at all" "" run "$U"
usage "command is an empty string" \
  "filelock: run: the command is an empty string" run "$U" -- ""
usage "-c and a command" "" run "$U" -c "$ran" -- sh -c "$ran"
usage "C06: -E 600 (exit statuses are 8 bits)" \
  "filelock: --conflict-exit-code: Value 600 not in range 1 to 255" \
  run -E 600 "$U" -- sh -c "$ran"
usage "C06: -E 0 (looks like success)" \
  "filelock: --conflict-exit-code: Value 0 not in range 1 to 255" \
  run -E 0 "$U" -- sh -c "$ran"
usage "--inherit with -o" "" run --inherit -o "$U" -- sh -c "$ran"

# ---- 66: the lock path cannot be opened
capture "$FL" run "$T/nodir/x.lock" -- touch "$T/ran"
check_rc "missing parent directory -> 66" 66
check_stderr "missing parent directory: message" \
  "filelock: cannot create '$T/nodir/x.lock': No such file or directory (directory '$T/nodir' does not exist)"
check "missing parent directory: not created" test ! -e "$T/nodir"

mkdir "$T/dir"
capture "$FL" run "$T/dir" -- touch "$T/ran"
check_rc "directory as lock path -> 66" 66
check_stderr "directory as lock path: message" \
  "filelock: cannot open '$T/dir': Is a directory"

printf 'precious\n' >"$T/victim"
ln -s "$T/victim" "$T/link.lock"
capture "$FL" run "$T/link.lock" -- touch "$T/ran"
check_rc "symlink at lock path -> 66" 66
check_stderr "symlink at lock path: message" \
  "filelock: cannot open '$T/link.lock': is a symbolic link, which a lock path must not be"
check "none of the 66 cases ran the command" test ! -e "$T/ran"

# ---- 73: the lock file cannot be created (read-only filesystem, or a
# filesystem out of inodes); both need a mount namespace.
if userns_works; then
  mkdir "$T/ro"
  capture in_ro_mount "$T/ro" "$FL" run -w 5 "$T/ro/new.lock" -- true
  check_rc "read-only filesystem, new file -> 73" 73
  check_stderr "read-only filesystem: message" \
    "filelock: cannot create '$T/ro/new.lock': Read-only file system (put the lock on a writable filesystem)"
  check_below "read-only filesystem: immediate, not after -w 5" 2 "$ELAPSED"

  mkdir "$T/full"
  capture unshare -rm sh -c '
    mount -t tmpfs -o size=64k,nr_inodes=2 tmpfs "$1" || exit 200
    i=0
    while [ $i -lt 100 ] && touch "$1/f$i" 2>/dev/null; do i=$((i + 1)); done
    exec "$2" run -w 5 "$1/x.lock" -- true' sh "$T/full" "$FL"
  check_rc "no inode left on the filesystem -> 73" 73
  check_grep "no inode left: message" "$T/err" \
    "cannot create '$T/full/x.lock': No space left on device"
else
  echo "SKIP: 73 tests: unshare -rm (user+mount namespace) is unavailable"
fi

# ---- 77: permission denied (as an unprivileged user: root passes every
# permission check)
chmod 755 "$T"
mkdir "$T/nw"
chmod 755 "$T/nw"
capture as_nobody "$FL" run "$T/nw/new.lock" -- true
check_rc "unwritable directory -> 77" 77
check_stderr "unwritable directory: message" \
  "filelock: cannot create '$T/nw/new.lock': Permission denied"
check "unwritable directory: nothing created" test ! -e "$T/nw/new.lock"

: >"$T/nw/secret.lock"
chmod 600 "$T/nw/secret.lock"
capture as_nobody "$FL" run "$T/nw/secret.lock" -- true
check_rc "unreadable lock file -> 77" 77
check_stderr "unreadable lock file: message" \
  "filelock: cannot open '$T/nw/secret.lock': Permission denied"
# C30, the POSIX analogue: a permanent refusal is not waited on as if busy.
capture as_nobody "$FL" run -w 10 "$T/nw/secret.lock" -- true
check_rc "C30: unreadable lock file with -w 10 -> 77" 77
check_below "C30: ... at once, not after the timeout" 2 "$ELAPSED"

# Not an error: a readable file that is not writable is locked through a
# read-only descriptor (flock(2) needs no write access).
: >"$T/nw/ro.lock"
chmod 644 "$T/nw/ro.lock"
capture as_nobody "$FL" run "$T/nw/ro.lock" -- true
check_rc "read-only permission on existing file: still lockable" 0

# ---- 126 / 127: the command cannot be run
: >"$T/not-exec"
capture "$FL" run "$L" -- "$T/not-exec"
check_rc "command not executable -> 126" 126
check_stderr "command not executable: message" \
  "filelock: cannot run '$T/not-exec': Permission denied"
capture "$FL" run "$L" -- "$T/dir"
check_rc "a directory as the command -> 126" 126
check_one_line "a directory as the command: one line"
capture "$FL" run "$L" -- "$T/no-such-command"
check_rc "command path not found -> 127" 127
check_stderr "command path not found: message" \
  "filelock: cannot run '$T/no-such-command': No such file or directory"
capture "$FL" run "$L" -- no-such-command-filelock-test
check_rc "command not on PATH -> 127" 127
check_stderr "command not on PATH: message" \
  "filelock: cannot run 'no-such-command-filelock-test': No such file or directory"
# The lock was released after the failed start.
check_eq "lock free after a failed start" free "$(probe "$L")"

finish
