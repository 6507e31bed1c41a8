"""Python filelock as a handoff peer for filelock_bench (see harness/peer.cpp).

Usage: /usr/bin/python3 peer.py file|soft LOCKPATH

Speaks the same line protocol on stdin/stdout as the C++ peer:
  "a" -> prints "w" just before waiting, then "h <ns>" once it holds,
         <ns> being CLOCK_MONOTONIC right after the acquire returned;
  "r" -> prints "r <ns>", <ns> being CLOCK_MONOTONIC right before the
         release started;
  end of input -> exits.
The locks are used as a user would: default arguments, so waiting polls
every 50 ms as the library does by default.
"""
import sys
import time

import filelock


def main() -> int:
    kind, path = sys.argv[1], sys.argv[2]
    lock = filelock.SoftFileLock(path) if kind == "soft" else \
        filelock.FileLock(path)
    clock = time.CLOCK_MONOTONIC
    out = sys.stdout
    for line in sys.stdin:
        command = line.strip()
        if command == "a":
            out.write("w\n")
            out.flush()
            lock.acquire()
            out.write("h %d\n" % time.clock_gettime_ns(clock))
            out.flush()
        elif command == "r":
            stamp = time.clock_gettime_ns(clock)
            lock.release()
            out.write("r %d\n" % stamp)
            out.flush()
        else:
            print("peer.py: unknown command '%s'" % command, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
