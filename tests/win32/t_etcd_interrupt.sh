# The Windows program, under Wine, interrupted while it waits for an etcd
# lock: its key must be withdrawn at once, not left queued (blocking
# everyone behind it) until its lease runs out. Wine turns a SIGINT sent to
# a Windows process into the console's Ctrl-C event, which is what reaches
# filelock when a user presses Ctrl-C in a console on Windows.
#
# Needs a Windows libcurl DLL (FILELOCK_TEST_LIBCURL_DLL; Debian has no
# mingw-w64 libcurl, tests/README.md says how to build one), and etcd and
# etcdctl on the host. Without any of them it exits 77 (skipped).
: "${FILELOCK_TEST_LIBCURL_DLL:=}"
if [ -z "$FILELOCK_TEST_LIBCURL_DLL" ] || [ ! -f "$FILELOCK_TEST_LIBCURL_DLL" ]; then
  echo "skipped: FILELOCK_TEST_LIBCURL_DLL names no Windows libcurl DLL"
  exit 77
fi
if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
  echo "skipped: no etcd or etcdctl on this machine"
  exit 77
fi
. "$FILELOCK_TESTS_DIR/integration/lib.sh"
: "${FILELOCK_WINE:=wine}"
export FILELOCK_LIBCURL="$FILELOCK_TEST_LIBCURL_DLL"
export ETCDCTL_API=3

# Free loopback ports are not known in advance: a server that does not come
# up on the ones drawn is retried on others.
ctl() { etcdctl --endpoints="127.0.0.1:$port" --dial-timeout=2s "$@"; }
tries=0
while :; do
  tries=$((tries + 1))
  port=$(awk -v s="$$$tries" 'BEGIN { srand(s); print 20000 + int(rand() * 20000) }')
  spawn etcd --data-dir "$T/etcd-$tries" --name t \
    --listen-client-urls "http://127.0.0.1:$port" \
    --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
    --initial-cluster "t=http://127.0.0.1:$((port + 1))"
  i=0
  until ctl endpoint health >/dev/null 2>&1 || [ $i -ge 50 ]; do
    sleep 0.2
    i=$((i + 1))
  done
  [ $i -lt 50 ] && break
  kill -KILL "$SPAWNED" 2>/dev/null
  [ $tries -ge 4 ] && { fail "etcd starts" "not on 4 pairs of ports"; finish; }
done
name="etcd://127.0.0.1:$port/wine-interrupt"
keys() { ctl get --prefix wine-interrupt --keys-only | grep -c .; }

# The holder is etcdctl's own lock, which also shows the two interoperate.
spawn etcdctl --endpoints="127.0.0.1:$port" lock wine-interrupt sleep 120
holder=$SPAWNED
i=0
until [ "$(keys)" = 1 ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
check_eq "etcdctl holds the lock" 1 "$(keys)"

# A lease far longer than the test: only the withdrawal can remove the key.
# Not spawned in a session of its own: Wine starts a process that leads its
# process group with Ctrl-C disabled, as Windows does one created with
# CREATE_NEW_PROCESS_GROUP.
env --default-signal=INT "$FILELOCK_WINE" "$FILELOCK" run --lease-ttl 300 \
  "$name" -- cmd /c echo ran >"$T/waiter.out" 2>"$T/waiter.err" &
waiter=$!
BG_PIDS="$BG_PIDS $waiter"
i=0
until [ "$(keys)" = 2 ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
check_eq "the waiter is queued" 2 "$(keys)"

kill -INT "$waiter"
if ! wait_until_gone "$waiter" 20; then
  fail "filelock ends on SIGINT" "still running 20 s later: $(cat "$T/waiter.err")"
  finish
fi
wait "$waiter"
rc=$?
# Wine reports the exit code Windows gives a process ended by Ctrl-C,
# STATUS_CONTROL_C_EXIT (0xC000013A), as its low byte.
check_eq "filelock ends as by Ctrl-C" 58 "$rc"
check_eq "its key is withdrawn" 1 "$(keys)"
check_no_grep "the command never ran" "$T/waiter.out" ran
kill -KILL "$holder" 2>/dev/null
finish
