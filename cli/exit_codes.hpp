// The program's exit statuses. They are an API: scripts test them, the man
// page lists them (EXIT STATUS in filelock(1)) and tests/README.md names
// the test of each code. Values follow BSD sysexits(3), as FreeBSD lockf(1)
// does, and the shells' conventions for commands that cannot run. Invoked
// as flock, the program keeps util-linux flock(1)'s choice among them
// instead (flock_status_for in common.hpp), which needs 65 and 71 too.
#pragma once

namespace filelock::cli {

enum class exit_code : int {
  ok = 0,
  usage = 64,            // EX_USAGE: bad option, value or command line
  data_error = 65,       // EX_DATAERR: invoked as flock, locking failed
  cannot_open = 66,      // EX_NOINPUT: lock path missing, a directory, ...
  unavailable = 69,      // EX_UNAVAILABLE: a lock service cannot be reached
  internal = 70,         // EX_SOFTWARE: a bug of ours
  os_error = 71,         // EX_OSERR: invoked as flock, out of a resource
  cannot_create = 73,    // EX_CANTCREAT: lock file cannot be created
  io_error = 74,         // EX_IOERR: reading/writing/locking failed
  busy = 75,             // EX_TEMPFAIL: held by someone else, or timed out
  no_permission = 77,    // EX_NOPERM: permission denied
  lock_lost = 79,        // the lock was lost while the command ran
  child_timeout = 124,   // the command ran past --max-runtime (timeout(1))
  not_executable = 126,  // the command exists but cannot be run
  not_found = 127,       // the command does not exist
};

constexpr int to_int(exit_code c) {
  return static_cast<int>(c);
}

}  // namespace filelock::cli
