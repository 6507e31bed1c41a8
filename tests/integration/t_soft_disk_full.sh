# C33: the disk fills up while the soft lock's record is written. The
# acquisition fails with ENOSPC (exit 74), leaves nothing behind, the OS
# lock still works (it writes no data), and once there is space again the
# soft lock works too. Runs in a user + mount namespace on a tiny tmpfs.
. "$FILELOCK_TESTS_DIR/integration/lib.sh"

if ! userns_works; then
  echo "SKIP: unshare -rm cannot mount a tmpfs here (no user namespaces)"
  exit 0
fi

mkdir -p "$T/mnt"
unshare -rm sh -c '
  M=$2
  mount -t tmpfs -o size=8k tmpfs "$M" || exit 90
  dd if=/dev/zero of="$M/fill" bs=1k count=64 2>/dev/null
  "$1" run --kind soft -w 2 "$M/x.lock" -- true 2>"$3/soft.err"
  echo "soft=$?"
  ls -A "$M" | tr "\n" " "; echo
  "$1" run --kind os "$M/o.lock" -- true; echo "os=$?"
  rm "$M/fill"
  "$1" run --kind soft -w 2 "$M/x.lock" -- true; echo "after=$?"
  ls -A "$M" | tr "\n" " "; echo
  "$1" run --kind soft "$M/x.lock" -- sh -c \
    "dd if=/dev/zero of=\"\$0\" bs=1k count=64 2>/dev/null; true" \
    "$M/fill" 2>"$3/full.err"
  echo "filled while held=$?"
  ls -A "$M" | tr "\n" " "; echo
' sh "$FL" "$T/mnt" "$T" >"$T/out" 2>"$T/err"

check_grep "the soft lock on a full disk fails with 74" "$T/out" "soft=74"
check_grep "... saying so" "$T/soft.err" "No space left on device"
check_eq "... in one line" 1 "$(wc -l <"$T/soft.err")"
check_eq "... leaving nothing behind (no empty marker, no temp file)" \
  "fill " "$(sed -n 2p "$T/out")"
check_grep "the OS lock needs no data: it works" "$T/out" "os=0"
check_grep "with space again the soft lock works" "$T/out" "after=0"
check_eq "... and is gone after the run" "o.lock " "$(sed -n 5p "$T/out")"
check_grep "a disk that fills while held: the release still works" \
  "$T/out" "filled while held=0"
check_eq "... silently" "" "$(cat "$T/full.err")"
check_eq "... and leaves nothing behind" "fill o.lock " \
  "$(sed -n 7p "$T/out")"
finish
