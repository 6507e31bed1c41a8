# The live wait line of `run`: on a terminal it shows, a second into a
# wait, the lock, its holder and the time waited (and left, with -w); it is
# gone once the lock is taken, and Ctrl-C leaves no trace of it. With -q,
# or with stderr not a terminal, nothing of it is written. The terminal is
# a tmux pane, read back with capture-pane.
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
  fail "tmux is installed" "scripts/packages.txt lists it"
  finish
fi

# A server of our own on a socket in $T. -D keeps it in the foreground, as
# our child, so that the EXIT trap ends it; it also spares us daemon(3),
# which fails where /dev/null is not the device.
: >"$T/tmux.conf"
TMUX_SOCK="$T/tmux.sock"
unset TMUX
spawn tmux -S "$TMUX_SOCK" -f "$T/tmux.conf" -D
wait_for_file "$TMUX_SOCK" 10 || { fail "tmux server starts" "no socket"; finish; }
tm() { tmux -S "$TMUX_SOCK" "$@"; }

# pane NAME 'SHELL COMMAND': runs the command in a new 200x20 pane, then
# prints DONE:<status> and stays, so that the screen can be read after.
pane() {
  tm new-session -d -s "$1" -x 200 -y 20 \
    "$2; echo DONE:\$?; exec sleep 600" ||
    fail "tmux session $1 starts" "new-session failed"
}

# shows NAME TEXT [SECONDS]: 0 once the pane shows TEXT (fixed string);
# the screen is left in $T/screen.
shows() {
  _deadline=$(awk -v t="$(now)" -v s="${3:-15}" 'BEGIN { printf "%.3f", t + s }')
  while :; do
    tm capture-pane -p -t "$1" >"$T/screen" 2>/dev/null
    grep -qF -- "$2" "$T/screen" && return 0
    if awk -v d="$_deadline" -v t="$(now)" 'BEGIN { exit !(t > d) }'; then
      return 1
    fi
    sleep 0.05
  done
}

screen_has_no() {
  if grep -qF -- "$2" "$T/screen"; then
    fail "$1" "[$2] on the screen: [$(cat "$T/screen" | sed '/^$/d')]"
  else
    pass "$1"
  fi
}

line_of() { grep -F "filelock: waiting for" "$T/screen" | head -n 1; }

# ---- a wait without timeout: lock, holder, time waited; gone at the end
start_holder H "$L" || finish
pane plain "'$FL' run '$L' -- touch '$T/ran'"
if shows plain "filelock: waiting for $L, held by pid $PID_H (" 10; then
  pass "the line names the lock and the holder's pid"
  _line=$(line_of)
  case $_line in
    *" waited") pass "the line ends with the time waited (not wrapped)" ;;
    *) fail "the line ends with the time waited" "[$_line]" ;;
  esac
  case $_line in
    *" left"*) fail "no time left without -w" "[$_line]" ;;
    *) pass "no time left without -w" ;;
  esac
  _width=$(printf '%s' "$_line" | wc -m)
  check_below "the line fits in the pane's 200 columns" 200 "$_width"
else
  fail "the line appears on the terminal" "screen: [$(sed '/^$/d' "$T/screen")]"
fi
# Whole seconds, counting up.
if shows plain " 2s waited" 10; then
  pass "the time waited counts up"
else
  fail "the time waited counts up" "[$(line_of)]"
fi
release_holder H
shows plain "DONE:" 15
check_grep "run exits 0 once the holder is gone" "$T/screen" "DONE:0"
screen_has_no "the line is erased once the lock is taken" "filelock: waiting"
check "the command ran" test -e "$T/ran"

# ---- -w 5: the time left counts down
start_holder H "$L" || finish
pane timed "'$FL' run -w 5 '$L' -- true"
if shows timed " left" 10; then
  _line=$(line_of)
  case $_line in
    *" waited "*" "[1-5]"s left") pass "-w 5: the line shows the time left" ;;
    *) fail "-w 5: the line shows the time left" "[$_line]" ;;
  esac
else
  fail "-w 5: the line shows the time left" "[$(sed '/^$/d' "$T/screen")]"
fi
shows timed "DONE:" 15
check_grep "-w 5 runs out: exit 75" "$T/screen" "DONE:75"
check_grep "-w 5 runs out: the timeout message" "$T/screen" \
  "filelock: timed out after 5s waiting for '$L'"
screen_has_no "-w 5 runs out: the line is erased" "filelock: waiting"

# ---- -q: nothing at all, during the wait or after
pane quiet "'$FL' run -q -w 3 '$L' -- true"
_seen=0
_deadline=$(awk -v t="$(now)" 'BEGIN { printf "%.3f", t + 20 }')
while tm capture-pane -p -t quiet >"$T/screen" 2>/dev/null; do
  grep -qF "filelock: waiting" "$T/screen" && _seen=1
  grep -qF "DONE:" "$T/screen" && break
  awk -v d="$_deadline" -v t="$(now)" 'BEGIN { exit !(t > d) }' && break
  sleep 0.05
done
check_eq "-q: no line during a 3 s wait" 0 "$_seen"
check_grep "-q: still exit 75" "$T/screen" "DONE:75"
screen_has_no "-q: no message" "filelock:"

# ---- stderr not a terminal (stdout is): the file gets what it always got
pane file "'$FL' run -w 3 '$L' -- true 2>'$T/err'"
shows file "DONE:" 20
check_grep "stderr to a file: exit 75" "$T/screen" "DONE:75"
check_one_line "stderr to a file: only the timeout line" \
  "filelock: timed out after 3s waiting for '$L'"
if LC_ALL=C grep -q "$(printf '[\r\033]')" "$T/err"; then
  fail "stderr to a file: no carriage return or escape" "$(od -c "$T/err" | head)"
else
  pass "stderr to a file: no carriage return or escape"
fi

# ---- -v on a terminal: the verbose lines are still said, in one piece
pane verbose "'$FL' run -v -w 3 '$L' -- true"
shows verbose "DONE:" 20
check_grep "-v: the waiting line is said" "$T/screen" \
  "filelock: waiting for exclusive lock on '$L'"
check_grep "-v: the timeout is said" "$T/screen" \
  "filelock: timed out after 3s waiting for '$L'"
screen_has_no "-v: no live line left behind" "filelock: waiting for $L"

# ---- Ctrl-C during the wait: ends filelock by SIGINT, the line erased
# (the pane's shell traps INT so that it lives on to print the status; a
# trapped signal is back at its default in filelock).
pane intr "trap 'echo INT' INT; '$FL' run '$L' -- touch '$T/ran-intr'"
if shows intr "filelock: waiting for $L" 10; then
  tm send-keys -t intr C-c
  shows intr "DONE:" 10
  check_grep "Ctrl-C: filelock dies by SIGINT (130)" "$T/screen" "DONE:130"
  screen_has_no "Ctrl-C: the line is erased" "filelock: waiting"
  check "Ctrl-C: the command did not run" test ! -e "$T/ran-intr"
else
  fail "Ctrl-C: the line appears first" "[$(sed '/^$/d' "$T/screen")]"
fi

release_holder H

# ---- acquire waits for a soft lock that a live process owns
spawn sleep 60
_owner=$SPAWNED
capture "$FL" acquire --owner-pid "$_owner" "$T/soft.lock"
check_rc "a soft lock owned by a sleeping process" 0
pane acquire "'$FL' acquire -w 3 '$T/soft.lock'"
if shows acquire "filelock: waiting for $T/soft.lock, held by pid $_owner" 10
then
  pass "acquire: the line names the soft lock's owner"
else
  fail "acquire: the line names the soft lock's owner" \
    "[$(sed '/^$/d' "$T/screen")]"
fi
shows acquire "DONE:" 15
check_grep "acquire: exit 75 at the timeout" "$T/screen" "DONE:75"
screen_has_no "acquire: the line is erased" "filelock: waiting"

tm kill-server 2>/dev/null
finish
