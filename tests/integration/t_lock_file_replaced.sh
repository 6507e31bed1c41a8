# The lock file removed or replaced while a waiter waits (cases C01, C02):
# the waiter ends up holding the file that the path names, not an inode
# without a name; and the holder warns at release that its file went away.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

warning="filelock: warning: '$L' was removed or replaced while the command ran; other processes may have held the lock at the same time"

# scenario NAME HOW: a holder, a waiter queued on the same inode, then HOW
# is done to the path, then the holder lets go.
scenario() {
  _name=$1
  _how=$2
  rm -f "$L" "$T/W.ready" "$T/W.go"
  SPAWN_ERR="$T/H.err"
  start_holder H "$L" || return
  old_ino=$(stat -c %i "$L")
  SPAWN_ERR="$T/W.err"
  spawn "$FL" run -v -w 20 "$L" -- sh -c '
    stat -c %i "$FILELOCK_PATH" >"$0.ino"
    touch "$0.ready"
    while [ ! -e "$0.go" ]; do sleep 0.02; done' "$T/W"
  W=$SPAWNED
  SPAWN_ERR=
  # The waiter has opened the file and sleeps in the kernel once it has
  # said so (-v).
  i=0
  while ! grep -q "waiting for" "$T/W.err" 2>/dev/null && [ $i -lt 250 ]; do
    sleep 0.02
    i=$((i + 1))
  done
  sleep 0.1
  case $_how in
    remove) rm -f "$L" ;;
    replace) rm -f "$L" && : >"$L" ;;
    rename) : >"$T/other" && mv "$T/other" "$L" ;;
  esac
  touch "$T/H.go"
  wait "$PID_H" 2>/dev/null
  echo $? >"$T/H.rc"
  if ! wait_for_file "$T/W.ready" 10; then
    fail "$_name: waiter gets the lock" "its command never ran"
    return
  fi
  check "$_name: the path names a lock file" test -f "$L"
  new_ino=$(stat -c %i "$L")
  check_eq "$_name: waiter holds the file the path names" "$new_ino" \
    "$(cat "$T/W.ino")"
  if [ "$_how" != rename ] || [ "$new_ino" != "$old_ino" ]; then
    check_eq "$_name: flock(1) on the path is refused while it holds" busy \
      "$(probe "$L")"
  fi
  capture "$FL" run -n "$L" -- true
  check_rc "$_name: filelock run -n on the path is refused" 75
  touch "$T/W.go"
  wait "$W"
  check_eq "$_name: waiter exits 0" 0 "$?"
}

for how in remove replace rename; do
  scenario "C01/C02 ($how while waiting)" "$how"
  check_eq "C02 ($how): holder exits with its command's status" 0 \
    "$(cat "$T/H.rc")"
  check_eq "C02 ($how): holder warns at release, one line" "$warning" \
    "$(cat "$T/H.err")"
  check_no_grep "C02 ($how): the waiter does not warn" "$T/W.err" warning
done

# C02 as the operator does it: the file removed while held, nobody
# waiting. A newcomer gets a new file (nothing can prevent that), and the
# holder says so at release.
rm -f "$L"
SPAWN_ERR="$T/H.err"
start_holder H "$L" || finish
rm -f "$L"
capture "$FL" run -n "$L" -- true
check_rc "C02: after rm, a newcomer locks a new file" 0
release_holder H
check_rc "C02: holder exits with its command's status" 0
check_eq "C02: holder warns that its file was removed" "$warning" \
  "$(cat "$T/H.err")"

# And nothing is said when the file stayed put.
start_holder H "$L" || finish
release_holder H
check_eq "no warning when the lock file was left alone" "" "$(cat "$T/H.err")"

finish
