# What the command sees: FILELOCK_PATH (absolute) and FILELOCK_MODE, the
# caller's umask (C17), the lock file's mode; and a nested run on a lock
# that an ancestor holds (runs straight through in a mode the ancestor's
# lock covers, fails at once with 75 otherwise, never hangs).
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# ---- FILELOCK_PATH and FILELOCK_MODE
show='printf "%s|%s\n" "$FILELOCK_PATH" "$FILELOCK_MODE"'
capture "$FL" run "$L" -- sh -c "$show"
check_eq "absolute path, default mode" "$L|exclusive" "$(cat "$T/out")"
capture "$FL" run -s "$L" -c "$show"
check_eq "-s: FILELOCK_MODE=shared" "$L|shared" "$(cat "$T/out")"
capture "$FL" run -x "$L" -- sh -c "$show"
check_eq "-x: FILELOCK_MODE=exclusive" "$L|exclusive" "$(cat "$T/out")"
mkdir "$T/sub"
capture sh -c 'cd "$1" && "$2" run x.lock -- sh -c "$3"' sh "$T" "$FL" "$show"
check_eq "relative path becomes absolute" "$L|exclusive" "$(cat "$T/out")"
capture sh -c 'cd "$1/sub" && "$2" run ../sub/./../x.lock -s -- sh -c "$3"' \
  sh "$T" "$FL" "$show"
check_eq "dot segments are resolved" "$L|shared" "$(cat "$T/out")"
capture env FOO=bar "$FL" run "$L" -- sh -c 'echo "$FOO"'
check_eq "the rest of the environment is passed on" bar "$(cat "$T/out")"

# ---- C17: the umask is the caller's; --mode is applied regardless of it
capture sh -c 'umask 027; "$1" run "$2" -- sh -c "umask; : >\"\$0\"" "$3"' \
  sh "$FL" "$T/u.lock" "$T/child-file"
check_eq "C17: the command sees the caller's umask" 0027 "$(cat "$T/out")"
check_eq "C17: files the command creates follow that umask" 640 \
  "$(stat -c %a "$T/child-file")"
check_eq "C17: a new lock file gets 0666 less the umask" 640 \
  "$(stat -c %a "$T/u.lock")"
capture sh -c 'umask 077; "$1" run --mode 0666 "$2" -- sh -c umask' \
  sh "$FL" "$T/m.lock"
check_eq "C17: --mode 0666 under umask 077 gives 0666" 666 \
  "$(stat -c %a "$T/m.lock")"
check_eq "C17: --mode leaves the command's umask alone" 0077 "$(cat "$T/out")"
capture sh -c 'umask 022; "$1" run --mode 0660 "$2" -- true' \
  sh "$FL" "$T/g.lock"
check_eq "--mode 0660 under umask 022 gives 0660" 660 \
  "$(stat -c %a "$T/g.lock")"
capture sh -c 'umask 022; "$1" run --mode 0600 "$2" -- true' sh "$FL" "$L"
check_eq "--mode does not change an existing file" 644 "$(stat -c %a "$L")"

# ---- a lock file is never truncated
printf 'keep me\n' >"$L"
capture "$FL" run "$L" -- true
check_eq "the lock file's contents are left alone" "keep me" "$(cat "$L")"

# ---- nested runs: an ancestor holds the lock
nested() {
  # nested NAME OUTER-MODE INNER-MODE EXPECTED [via-shell]
  capture timeout 10 "$FL" run "$2" "$L" -- \
    sh -c '"$1" run "$2" "$3" -- sh -c "echo inner-ran; exit 5"' \
    sh "$FL" "$3" "$L"
  check_rc "nested: $1 -> $4" "$4"
  check_below "nested: $1: no hang" 5 "$ELAPSED"
}
nested "exclusive inside exclusive runs through" -x -x 5
nested "shared inside shared runs through" -s -s 5
nested "shared inside exclusive runs through" -x -s 5
nested "exclusive inside shared fails at once" -s -x 75
check_no_grep "nested -s/-x: command not run" "$T/out" inner-ran
check_grep "nested -s/-x: message says why" "$T/err" \
  "exclusive: ancestor pid"
check_grep "nested -s/-x: message says it would deadlock" "$T/err" \
  "holds it shared, and waiting would deadlock"
check_eq "nested -s/-x: one line" 1 "$(wc -l <"$T/err")"

capture timeout 10 "$FL" run -s "$L" -- \
  sh -c '"$1" run -E 9 -x "$2" -- true' sh "$FL" "$L"
check_rc "nested -s/-x honours -E" 9

# Two levels down, through shells, and with a grandchild in between.
capture timeout 10 "$FL" run "$L" -- sh -c '
  sh -c "\"\$1\" run \"\$2\" -- sh -c \"echo deep\"" sh "$1" "$2"' sh "$FL" "$L"
check_rc "nested two levels down runs through" 0
check_eq "nested two levels down ran its command" deep "$(cat "$T/out")"

# While the nested run goes on, strangers are still kept out.
capture timeout 10 "$FL" run "$L" -- sh -c '
  "$1" run "$2" -- sh -c "flock -n -E 200 \"\$0\" true; echo \$?" "$2"
  ' sh "$FL" "$L"
check_eq "during a nested run the lock is still held" 200 "$(cat "$T/out")"

# FILELOCK_HELD naming a process that is not an ancestor gives nothing
# away: a stranger must still wait.
start_holder H "$L" || finish
key=$(stat -c '%d:%i' "$L")
capture env "FILELOCK_HELD=$key:exclusive:$PID_H" "$FL" run -n "$L" -- true
check_rc "forged FILELOCK_HELD of a non-ancestor: still busy" 75
release_holder H
# (FILELOCK_HELD naming a live ancestor that does not hold the lock:
# see t_nested_run_trusts_only_holders.sh.)

# ---- -F/--no-fork: the command replaces filelock and holds the lock
capture "$FL" run -F "$L" -- sh -c '
  flock -n -E 200 "$0" true; echo "$?|$FILELOCK_MODE"; exit 6' "$L"
check_rc "-F: exit status is the command's" 6
check_eq "-F: the lock is held while the command runs" "200|exclusive" \
  "$(cat "$T/out")"
check_eq "-F: lock free afterwards" free "$(probe "$L")"

finish
