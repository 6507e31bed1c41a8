# The lock path itself: missing directory (C18), planted symlink (C20),
# read-only filesystem (C21), over-long name (C31), and status probes that
# must not drop a held lock (C28).
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

# ---- C18: missing parent -> 66 at once, naming the missing directory
capture "$FL" run -x -w 5 "$T/missing/sub/x.lock" -- touch "$T/ran"
check_rc "C18: missing parent directory -> 66" 66
check_below "C18: immediate, not after -w 5 (< 1s)" 1 "$ELAPSED"
check_grep "C18: message names the missing directory" "$T/err" \
  "(directory '$T/missing/sub' does not exist)"
check_one_line "C18: one line"
check "C18: the directory is not created" test ! -e "$T/missing"
check "C18: the command did not run" test ! -e "$T/ran"
capture "$FL" run -x "$T/missing/x.lock" -- true
check_rc "C18: without a timeout it fails too (does not wait)" 66

# The directory renamed while a waiter is queued: the waiter ends up
# holding a lock that the path names, or fails promptly; no hang.
mkdir "$T/d"
SPAWN_ERR="$T/H.err"
start_holder H "$T/d/x.lock" || finish
SPAWN_ERR="$T/W.err"
spawn "$FL" run -x -w 10 "$T/d/x.lock" -- sh -c '
  test -e "$0" && echo "held-path-exists" >"$1"' "$T/d/x.lock" "$T/renamed.out"
W=$SPAWNED
SPAWN_ERR=
sleep 0.3
mv "$T/d" "$T/d2"
t0=$(now)
touch "$T/H.go"
wait "$PID_H"
wait "$W"
rc=$?
check_below "C18: waiter after the directory was renamed returns < 5s" 5 \
  "$(since "$t0")"
if [ $rc -eq 0 ]; then
  check_eq "C18: renamed directory: waiter holds a file the path names" \
    held-path-exists "$(cat "$T/renamed.out" 2>/dev/null)"
else
  check_eq "C18: renamed directory: waiter fails with 66" 66 "$rc"
  check_grep "C18: renamed directory: waiter says the directory is gone" \
    "$T/W.err" "(directory '$T/d' does not exist)"
fi
check_grep "C18: renamed directory: the holder warns at release" \
  "$T/H.err" "was removed or replaced while the command ran"

# ---- C20: a symlink at the lock path is never followed
printf 'precious\n' >"$T/victim"
ln -s "$T/victim" "$T/link.lock"
capture "$FL" run -x "$T/link.lock" -- touch "$T/ran"
check_rc "C20: symlink to a file -> 66" 66
check_one_line "C20: one line naming the link" \
  "filelock: cannot open '$T/link.lock': "
check_eq "C20: the link target is untouched" precious "$(cat "$T/victim")"
check "C20: the command did not run" test ! -e "$T/ran"
capture "$FL" run -s -w 5 "$T/link.lock" -- true
check_rc "C20: shared mode refuses it too, at once" 66
check_below "C20: immediate" 1 "$ELAPSED"
ln -s "$T/not-there" "$T/dangling.lock"
capture "$FL" run -x "$T/dangling.lock" -- true
check_rc "C20: dangling symlink -> 66" 66
check "C20: the dangling link's target is not created" test ! -e "$T/not-there"
# Symlinks in the directory part are fine (/var/lock -> /run/lock).
mkdir "$T/real"
ln -s "$T/real" "$T/dirlink"
capture "$FL" run "$T/dirlink/x.lock" -- true
check_rc "C20: a symlinked parent directory works" 0
check "C20: the lock file is made in the real directory" test -f "$T/real/x.lock"

# ---- C21: read-only filesystem
if userns_works; then
  mkdir "$T/ro"
  : >"$T/ro/x.lock"
  capture in_ro_mount "$T/ro" "$FL" run -x -w 5 "$T/ro/x.lock" -- true
  check_rc "C21: existing file on a read-only fs, exclusive -> 0" 0
  check_below "C21: exclusive on read-only fs is immediate" 2 "$ELAPSED"
  capture in_ro_mount "$T/ro" "$FL" run -s "$T/ro/x.lock" -- true
  check_rc "C21: existing file on a read-only fs, shared -> 0" 0
  # The lock taken through the read-only mount still excludes.
  capture in_ro_mount "$T/ro" "$FL" run -x "$T/ro/x.lock" -- \
    flock -n -E 200 "$T/ro/x.lock" true
  check_rc "C21: a read-only-fs lock excludes flock(1)" 200
  capture in_ro_mount "$T/ro" "$FL" run -s -w 5 "$T/ro/new.lock" -- \
    touch "$T/ran"
  check_rc "C21: new file on a read-only fs -> 73" 73
  check_below "C21: 73 at once, not after -w 5" 2 "$ELAPSED"
  check_grep "C21: message says read-only" "$T/err" "Read-only file system"
  check_grep "C21: message suggests a writable place" "$T/err" \
    "(put the lock on a writable filesystem)"
  check_one_line "C21: one line"
  check "C21: command did not run" test ! -e "$T/ran"
else
  echo "SKIP: C21: unshare -rm (user+mount namespace) is unavailable"
fi

# ---- C31: a name longer than 255 bytes
n300=$(printf 'b%.0s' $(seq 300))
capture "$FL" run -x -w 5 "$T/$n300.lock" -- touch "$T/ran"
check_rc "C31: name of 305 bytes -> 66" 66
check_below "C31: immediate (< 1s)" 1 "$ELAPSED"
check_grep "C31: message says the name is too long" "$T/err" \
  "File name too long"
check_grep "C31: message names the limit" "$T/err" "at most 255 bytes"
check_one_line "C31: one line"
check "C31: command did not run" test ! -e "$T/ran"

# A path longer than PATH_MAX (4096), made one 200-byte directory at a
# time: refused at once with the limit named, never retried.
a200=$(printf 'a%.0s' $(seq 200))
(cd "$T" && for i in $(seq 21); do mkdir "$a200" && cd -P "$a200" || exit; done)
deep=$T
for i in $(seq 21); do deep="$deep/$a200"; done
capture "$FL" run -x -w 5 "$deep/x.lock" -- touch "$T/ran"
check_rc "C31: a path of $(printf %s "$deep/x.lock" | wc -c) bytes -> 66" 66
check_below "C31: ... at once (< 1s)" 1 "$ELAPSED"
check_grep "C31: ... naming the path limit" "$T/err" "a path at most 4095"
check_one_line "C31: ... in one line"
check "C31: ... and the command did not run" test ! -e "$T/ran"

# ---- C28: status probes while held do not drop the lock
start_holder H "$L" || finish
busy=0
i=0
while [ $i -lt 8 ]; do
  sleep 0.1
  "$FL" run -n "$L" -- true 2>/dev/null
  [ $? -eq 75 ] && busy=$((busy + 1))
  "$FL" run -s -n "$L" -- true 2>/dev/null
  [ $? -eq 75 ] && busy=$((busy + 1))
  i=$((i + 1))
done
check_eq "C28: 16 probes during one held run all get 75" 16 "$busy"
check_eq "C28: the lock is still held after the probes" busy "$(probe "$L")"
release_holder H
check_rc "C28: holder exits 0" 0
check_eq "C28: free after the holder" free "$(probe "$L")"

finish
