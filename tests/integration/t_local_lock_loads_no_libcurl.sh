# A local lock never loads libcurl: the etcd backend loads it on first use
# of an etcd name (core/src/etcd/curl_api.hpp). Linked, libcurl and its 30
# dependencies were mapped and relocated at every start, which made
# `filelock run L -- true` three times slower than flock(1) (bench/).
# The command's parent is a fork of the program, so its memory map is the
# program's own. Linux only (/proc/PID/maps).
. "${FILELOCK_TESTS_DIR}/integration/lib.sh"

if [ ! -r /proc/self/maps ]; then
  echo "skipped: no /proc/PID/maps"
  finish
fi

capture "$FL" run "$L" -- sh -c 'cat /proc/$PPID/maps'
check_rc "run L -- cat the parent's maps" 0
check "the program's map was read" grep -q 'libc[.-]' "$T/out"
check "no libcurl mapped for a local lock" \
  sh -c "! grep -q libcurl '$T/out'"

capture "$FL" run --kind soft "$L.soft" -- sh -c 'cat /proc/$PPID/maps'
check_rc "run --kind soft L -- cat the parent's maps" 0
check "no libcurl mapped for a soft lock" \
  sh -c "! grep -q libcurl '$T/out'"

finish
