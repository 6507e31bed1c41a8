# Case C12: on NFS, Linux implements flock(2) with byte-range locks, and an
# exclusive one fails with EBADF on a descriptor open for reading only. A
# user who may only read the lock file gets a shared lock, and for an
# exclusive one a clear "needs write access" (77) at once: never a raw
# "Bad file descriptor", never busy after the timeout. No NFS here: an
# LD_PRELOAD shim (tests/fakes) gives flock() that NFS behaviour.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

: "${FILELOCK_FAKE_NFS_READONLY:?the NFS flock shim (tests/fakes) must be built}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
nfs() { env LD_PRELOAD="$FILELOCK_FAKE_NFS_READONLY" "$@"; }

chmod 755 "$T"
: >"$L"
chmod 644 "$L"

capture nfs "$FL" run -x "$L" -- true
check_rc "C12: a writer of the file locks it exclusively" 0
capture as_nobody "$FL" run -x "$L" -- true
check_rc "C12: without the shim a reader locks it exclusively (local flock)" 0

capture as_nobody env LD_PRELOAD="$FILELOCK_FAKE_NFS_READONLY" "$FL" run -s -w 2 "$L" -- true
check_rc "C12: a reader of the file locks it shared" 0
capture as_nobody env LD_PRELOAD="$FILELOCK_FAKE_NFS_READONLY" "$FL" run -x -w 5 "$L" -- touch "$T/ran"
check_rc "C12: exclusive through a read-only descriptor -> 77" 77
check_below "C12: ... at once, not after -w 5" 2 "$ELAPSED"
check_stderr "C12: ... in one line saying write access is needed" \
  "filelock: cannot lock '$L': an exclusive lock on this filesystem needs write access to the file"
check "C12: ... and the command did not run" test ! -e "$T/ran"
check_eq "C12: the lock is free afterwards" free "$(probe "$L")"

# The same through a descriptor the shell opened read-only.
capture as_nobody env LD_PRELOAD="$FILELOCK_FAKE_NFS_READONLY" sh -c \
  'exec 9<"$1"; exec "$2" acquire --fd 9 -w 5' sh "$L" "$FL"
check_rc "C12: acquire --fd on a read-only descriptor -> 77" 77
check_stderr "C12: ... in one line saying write access is needed" \
  "filelock: cannot lock descriptor 9 ('$L'): an exclusive lock on this filesystem needs write access to the file"
capture as_nobody env LD_PRELOAD="$FILELOCK_FAKE_NFS_READONLY" sh -c \
  'exec 9<"$1"; exec "$2" acquire --fd 9 -s' sh "$L" "$FL"
check_rc "C12: ... and locks it shared" 0

finish
