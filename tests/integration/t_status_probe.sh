# filelock status only looks: it never calls flock(2) or fcntl locks (a
# probe would make another process's non-blocking attempt fail at that
# moment), never creates the file, and its looking never drops or disturbs
# a holder's lock (C28).
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

# flocked_paths TRACE: the paths that flock(2) was called on, from an
# strace of openat and flock.
flocked_paths() {
  /usr/bin/python3 -c '
import re, sys
fds = {}
for line in open(sys.argv[1]):
    m = re.search(r"openat\(AT_FDCWD, \"(.*?)\",.*\) = (\d+)", line)
    if m:
        fds[m.group(2)] = m.group(1)
    m = re.search(r"flock\((\d+), (\w+)", line)
    if m:
        print(fds.get(m.group(1), "?"), m.group(2))' "$1"
}

if strace -f -o /dev/null true 2>/dev/null; then
  # LeakSanitizer cannot run under ptrace; the sanitizer build would fail.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  export ASAN_OPTIONS
  for kind in auto os soft; do
    capture strace -f -e trace=openat,flock,fcntl -o "$T/trace" \
      "$FL" status --kind $kind "$L"
    check_rc "--kind $kind: status of a missing lock, traced: free" 1
    check_eq "--kind $kind: no flock(2) on the lock file" "" \
      "$(flocked_paths "$T/trace" | grep -F "$L")"
    check_no_grep "--kind $kind: no fcntl lock" "$T/trace" "F_SETLK"
    check "--kind $kind: the file was not created" test ! -e "$L"
  done

  start_holder h "$L" -s
  capture strace -f -e trace=flock,fcntl,openat -o "$T/trace" \
    "$FL" status "$L"
  check_rc "status of a held lock, traced: held" 0
  check_eq "... without flock(2) on it" "" \
    "$(flocked_paths "$T/trace" | grep -F "$L")"
  check_no_grep "... without fcntl locks" "$T/trace" "F_SETLK"
  check_no_grep "... and without creating anything" "$T/trace" "O_CREAT"
  release_holder h
else
  echo "skip: strace cannot trace here"
fi

# C28: while `filelock run` holds the lock, status queries in between never
# let another process in, and the holder's own lock survives them.
start_holder c "$L" -x
i=0
busy=0
while [ $i -lt 8 ]; do
  "$FL" status "$L" >/dev/null
  [ $? -eq 0 ] || fail "C28: status says held at round $i" "it did not"
  "$FL" run -n "$L" -- true 2>/dev/null
  [ $? -eq 75 ] && busy=$((busy + 1))
  [ "$(probe "$L" -s)" = busy ] && busy=$((busy + 1))
  i=$((i + 1))
done
check_eq "C28: all 16 attempts between status queries were refused" 16 "$busy"
release_holder c
check_rc "the holder finished normally" 0

# Status queries racing many non-blocking lockers of a free lock never make
# one of them fail.
: >"$L"
# Each status must answer free or held, even as the lockers it sees in
# /proc/locks exit under it.
(
  i=0
  while [ $i -lt 100 ]; do
    "$FL" status "$L" >/dev/null 2>>"$T/spin.err"
    st=$?
    [ $st -le 1 ] || echo "$st" >>"$T/spin.bad"
    i=$((i + 1))
  done
) &
SPIN=$!
failed=0
i=0
while [ $i -lt 200 ]; do
  flock -n "$L" true || failed=$((failed + 1))
  i=$((i + 1))
done
wait "$SPIN"
check_eq "no flock -n failed while status ran alongside" 0 "$failed"
check "status always answered while lockers came and went" \
  test ! -e "$T/spin.bad"
check_eq "... and printed no error" "" "$(cat "$T/spin.err")"

finish
