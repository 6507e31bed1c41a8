# Two users, one lock (cases C15 and C16), with root and uid 65534 as the
# two: a lock file that one user created with umask 022 (mode 0644) can
# be locked by the other, who is still kept out while the first holds it;
# an existing lock file is opened without O_CREAT, so that
# fs.protected_regular cannot refuse another user's file in a sticky
# directory; a soft lock that cannot be created fails at once.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

chmod 755 "$T"
S="$T/shared"
mkdir -m 1777 "$S"

# ---- C15: root's 0644 file, used by nobody
capture sh -c 'umask 022; "$1" run "$2" -- true' sh "$FL" "$S/root.lock"
check_eq "C15: root's lock file is 0644, owned by root" "644 root" \
  "$(stat -c '%a %U' "$S/root.lock")"
capture as_nobody "$FL" run -x -w 5 "$S/root.lock" -- true
check_rc "C15: the other user locks it exclusively" 0
check_below "C15: ... at once" 2 "$ELAPSED"
capture as_nobody "$FL" run -s -n "$S/root.lock" -- true
check_rc "C15: ... and shared" 0

start_holder R "$S/root.lock" || finish
capture as_nobody "$FL" run -n "$S/root.lock" -- true
check_rc "C15: while root holds it, the other user is busy, never in" 75
capture as_nobody "$FL" run -s -w 0.3 "$S/root.lock" -- true
check_rc "C15: ... shared, after a timeout, too" 75
release_holder R

# And the other way round: nobody's 0644 file, root kept out while held.
capture as_nobody sh -c 'umask 022; "$1" run "$2" -- true' sh "$FL" \
  "$S/nobody.lock"
check_eq "C15: nobody's lock file is 0644, owned by nobody" "644 nobody" \
  "$(stat -c '%a %U' "$S/nobody.lock")"
rm -f "$T/N.ready" "$T/N.go"
chmod 777 "$T"
spawn setpriv --reuid=65534 --regid=65534 --clear-groups "$FL" run "$S/nobody.lock" -- sh -c '
  touch "$1.ready"
  while [ ! -e "$1.go" ]; do sleep 0.02; done' sh "$T/N"
N=$SPAWNED
if wait_for_file "$T/N.ready"; then
  capture "$FL" run -n "$S/nobody.lock" -- true
  check_rc "C15: while nobody holds its file, root is busy" 75
  touch "$T/N.go"
  wait "$N"
  check_eq "C15: nobody's run exits 0" 0 "$?"
else
  fail "C15: nobody's holder starts" "its command never ran"
fi
chmod 755 "$T"

# ---- C16: an existing file is opened without O_CREAT. With
# fs.protected_regular (off on this machine, and a global setting a test
# must not change) an O_CREAT open of another user's file in a sticky
# directory fails even when its mode allows it; strace shows the flags.
if strace -f -o /dev/null true 2>/dev/null; then
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  export ASAN_OPTIONS
  capture as_nobody sh -c 'umask 0; : >"$1"' sh "$S/theirs.lock"
  capture strace -f -e trace=open,openat -o "$T/trace" \
    "$FL" run "$S/theirs.lock" -- true
  check_rc "C16: root locks nobody's file in a sticky directory" 0
  check_grep "C16: the existing file is opened" "$T/trace" \
    "\"$S/theirs.lock\", O_RDWR"
  check_eq "C16: ... never with O_CREAT" "" \
    "$(grep -F "\"$S/theirs.lock\"" "$T/trace" | grep O_CREAT)"
else
  echo "SKIP: C16: strace cannot trace here"
fi

# ---- soft locks: the marker is readable by the other user; one that
# cannot be created is refused at once, not waited for.
start_holder RS "$S/soft.lock" --kind soft || finish
capture as_nobody "$FL" run -n --kind soft "$S/soft.lock" -- true
check_rc "C15: root's soft lock keeps the other user out" 75
check_grep "C15: ... naming the holder" "$T/err" "held by pid"
release_holder RS
mkdir -m 755 "$T/nw"
capture as_nobody "$FL" run --kind soft -w 5 "$T/nw/soft.lock" -- touch "$T/ran"
check_rc "C15: a soft lock the user cannot create -> 77" 77
check_below "C15: ... at once, not after -w 5" 2 "$ELAPSED"
check_stderr "C15: ... in one line naming the path" \
  "filelock: cannot create '$T/nw/soft.lock': Permission denied"
check "C15: ... and the command did not run" test ! -e "$T/ran"

finish
