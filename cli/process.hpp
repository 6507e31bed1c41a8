// Starting and watching the command that `run` wraps. The one place in
// cli/ that knows the platform; implementations in process_posix.cpp and
// process_win32.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace filelock::cli {

struct child_spec {
  std::vector<std::string> argv;
  // "NAME=value" entries added to (or replacing in) our environment.
  std::vector<std::string> env;
  // A descriptor the command keeps open (the lock, when it is inherited);
  // -1 for none. Every other descriptor of ours is close-on-exec.
  int inherit_fd = -1;
  // Called every tick_interval while the command runs (never when zero),
  // from the thread that waits for it. Returning false terminates the
  // command (SIGTERM); run keeps a soft lock's lease fresh this way.
  std::function<bool()> on_tick;
  std::chrono::milliseconds tick_interval{0};
  // After on_tick asked to terminate: SIGKILL this much later if the
  // command is still running (zero: never). An etcd lock must have its
  // command gone before its lease can expire, whatever the command does
  // with SIGTERM.
  std::chrono::milliseconds kill_after{0};
};

struct child_result {
  enum class how { exited, signalled, not_started } status = how::exited;
  int code = 0;         // exit status, or signal number
  int start_error = 0;  // errno when not_started
};

// Runs the command and waits for it. INT, TERM, HUP and QUIT sent to this
// process are passed on to it (except those a terminal sent to the whole
// process group, which it got already). On Linux the command is killed if
// this process dies (it could not release the lock otherwise); elsewhere it
// keeps the lock descriptor, so that it never runs unlocked.
child_result run_child(const child_spec& spec);

// Replaces this process with the command (-F): the lock stays with it.
// Returns only on failure, with errno's value.
int exec_in_place(const child_spec& spec);

// The identity of a file as "device:inode" (empty when it cannot be read).
std::string file_key(int fd);
std::string file_key_of_path(const std::string& path);

// True when pid is this process's parent, grandparent, ...
bool is_ancestor(std::int64_t pid);

}  // namespace filelock::cli
