// The program invoked as `flock` (a link or copy of filelock by that name,
// installed with -DFILELOCK_INSTALL_FLOCK_ALIAS=ON): util-linux flock(1)'s
// command line, read as its getopt grammar reads it, mapped onto `run`
// (flock [options] PATH COMMAND..., flock [options] PATH -c STRING),
// `acquire --fd` (flock [options] N) and `release --fd` (flock -u N).
//
// What scripts can see follows util-linux: a busy lock or a timeout exits 1
// (or -E), silently unless --verbose; failures exit with its sysexits codes
// (64 usage, 65 lock call failed, 66 cannot open, 69 command cannot start,
// 71 out of resources, 73 read-only or full filesystem); the command
// inherits the lock's descriptor unless -o; -c runs $SHELL; a symlink at
// the path is followed and a directory is locked; --verbose reports on
// stdout. What no script can rely on stays filelock's: signals are passed
// on to the command, on Linux a SIGKILLed flock takes the command's tree
// with it, and a lock file replaced during the wait is locked anew.
// filelock(1), "INVOKED AS flock", lists every difference.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace filelock::cli {

// True when argv[0]'s last component is "flock" or "flock.exe".
bool invoked_as_flock(std::string_view argv0);

// Runs the flock personality on the words after the program name and
// returns the exit status.
int flock_main(const std::vector<std::string>& args);

}  // namespace filelock::cli
