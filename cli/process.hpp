// Starting and watching the command that `run` wraps. The one place in
// cli/ that knows the platform; implementations in process_posix.cpp and
// process_win32.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
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
  // The OS lock's descriptor, -1 for none. If filelock is killed, whatever
  // keeps this descriptor open keeps the lock: on Linux a guardian process
  // that kills the command's whole process tree first, elsewhere the
  // command itself.
  int lock_fd = -1;
  // Called every tick_interval while the command runs (never when zero),
  // from the thread that waits for it. Returning false terminates the
  // command (SIGTERM); run keeps a soft lock's lease fresh this way.
  std::function<bool()> on_tick;
  std::chrono::milliseconds tick_interval{0};
  // After on_tick asked to terminate, or max_runtime ran out: SIGKILL
  // this much later if the command is still running (zero: never); on
  // Linux the whole tree below the guardian. An etcd lock must have its
  // command gone before its lease can expire, whatever the command does
  // with SIGTERM.
  std::chrono::milliseconds kill_after{0};
  // Called with the pid of the process that could outlive filelock while
  // the command runs (Linux: the guardian; elsewhere on POSIX: the command
  // itself), before the command starts: a soft lock records it as its
  // keeper, so that nobody takes the lock over while the command may still
  // run. Returning false cancels the start (how::not_started, with
  // start_error as set by the callee). Not called on Windows, where a job
  // object ends the command with filelock.
  std::function<bool(std::int64_t pid, int& start_error)> on_started;
  // The command gets SIGTERM this long after it started (zero: no limit).
  // Windows has no SIGTERM for a console program: the job is terminated
  // at once, without waiting for kill_after.
  std::chrono::milliseconds max_runtime{0};
};

struct child_result {
  enum class how { exited, signalled, not_started } status = how::exited;
  int code = 0;            // exit status, or signal number
  int start_error = 0;     // errno when not_started
  bool timed_out = false;  // max_runtime ran out before the command ended
};

// Runs the command and waits for it. INT, TERM, HUP and QUIT sent to this
// process are passed on to it (except those a terminal sent to the whole
// process group, which it got already). If this process is killed, the
// command must not run on while the lock is free. On Linux the command runs
// under a guardian process that shares the lock's descriptor: when
// filelock dies, the guardian kills everything the command started (as
// child subreaper it finds orphans too) and only then exits, which frees
// the lock. Elsewhere the command keeps the lock's descriptor instead.
child_result run_child(const child_spec& spec);

// The argv that runs `command` with the platform's shell (-c): /bin/sh -c
// on POSIX; cmd.exe /d /s /c on Windows, where run_child passes the command
// to cmd.exe verbatim, since cmd.exe does not follow the C runtime's
// quoting rules.
std::vector<std::string> shell_argv(const std::string& command);
// flock(1)'s -c: the user's $SHELL -c, or /bin/sh -c when SHELL is unset or
// empty. On Windows the same as shell_argv: SHELL there is set by POSIX
// layers (Git Bash, MSYS2) to paths such as /usr/bin/bash that Windows
// itself cannot start.
std::vector<std::string> user_shell_argv(const std::string& command);

// Replaces this process with the command (-F): the lock stays with it.
// Returns only on failure, with errno's value.
int exec_in_place(const child_spec& spec);

// The identity of a file as "device:inode" (empty when it cannot be read).
std::string file_key(int fd);
std::string file_key_of_path(const std::string& path);

// The program's arguments (without the program name) as UTF-8. Windows
// hands main() its ANSI code page, which cannot hold every name.
std::vector<std::string> utf8_arguments(int argc, char** argv);

// A path from UTF-8 text. On Windows std::filesystem::path(std::string)
// reads the text in another encoding, so every path from the command line
// is made here.
std::filesystem::path utf8_path(const std::string& text);

// This process, its parent (the calling shell, for `acquire`; 0 when
// unknown) and this machine's name.
std::int64_t current_pid();
std::int64_t parent_pid();
std::string host_name();

// True when pid is this process's parent, grandparent, ...
bool is_ancestor(std::int64_t pid);

}  // namespace filelock::cli
