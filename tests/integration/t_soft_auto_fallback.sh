# --kind auto (the default): the OS lock, and the soft lock where the
# filesystem refuses OS locks. The refusal is real: an LD_PRELOAD shim
# (tests/fakes) makes flock() fail with ENOLCK, as NFS without a lock
# manager does (C11).
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

: "${FILELOCK_FAKE_ENOLCK:?the ENOLCK shim (tests/fakes) must be built}"
# A sanitizer runtime insists on coming first among the loaded libraries.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
nolocks() { LD_PRELOAD=$FILELOCK_FAKE_ENOLCK "$@"; }

capture "$FL" run "$L" -- sh -c 'echo "kind=$FILELOCK_KIND"'
check_rc "auto on a filesystem with OS locks" 0
check_grep "... takes the OS lock" "$T/out" "kind=os"
rm -f "$L"

capture nolocks "$FL" run --kind os "$L" -- true
check_rc "--kind os where flock fails with ENOLCK: an I/O error" 74
check_stderr "... in one line naming the reason and suggesting the soft lock" \
  "filelock: cannot lock '$L': No locks available (this filesystem does not support OS locks; --kind auto or soft takes a soft lock instead)"
check_below "... at once, not retried as if busy" 2 "$ELAPSED"
capture nolocks "$FL" run --kind os -w 5 "$L" -- true
check_rc "C11: with -w 5 it is still an I/O error" 74
check_below "C11: ... reported at once, not after the timeout" 2 "$ELAPSED"
rm -f "$L"

capture nolocks "$FL" run -v "$L" -- sh -c \
  'echo "kind=$FILELOCK_KIND"; cat "$FILELOCK_PATH"'
check_rc "auto where flock fails with ENOLCK: runs" 0
check_grep "... under a soft lock" "$T/out" "kind=soft"
check_grep "... whose marker holds the record" "$T/out" '{"filelock":1,'
check_grep "-v reports the fallback" "$T/err" \
  "refuses OS locks: using a soft lock"
check "no OS lock file is left behind" test ! -e "$L"

start_holder h "$L"
capture nolocks "$FL" run -n "$L" -- true
# The holder took an OS lock (no shim); a soft locker sees a file it
# cannot parse as a record: an unknown owner, held.
check_rc "an auto fallback never takes a lock an OS holder has" 75
release_holder h
rm -f "$L"

SPAWN_ERR="$T/h.err" spawn env LD_PRELOAD="$FILELOCK_FAKE_ENOLCK" "$FL" run \
  "$L" -- sh -c 'touch "$0.ready"; sleep 1' "$T/s"
wait_for_file "$T/s.ready"
capture nolocks "$FL" run -n "$L" -- true
check_rc "two fallen-back runs exclude each other" 75
capture nolocks "$FL" run -s "$L" -- true
check_rc "a shared request cannot fall back: usage error" 64
check_grep "... saying why" "$T/err" "soft locks are exclusive only"
wait
check "the holder released its marker" test ! -e "$L"
finish
