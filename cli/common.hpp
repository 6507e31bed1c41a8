// What every lock-taking subcommand shares: its options, and how failures
// become one line on stderr and an exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "exit_codes.hpp"
#include "filelock/lock.hpp"

namespace filelock::cli {

struct lock_args {
  std::string path;
  bool shared = false;
  bool exclusive = false;
  bool nonblock = false;
  std::string timeout;  // raw text; see wait()
  int conflict_exit = to_int(exit_code::busy);
  std::string file_mode;  // raw octal text; see perms()
  bool verbose = false;
  bool quiet = false;
  // Invoked as flock: util-linux flock(1)'s exit statuses and --verbose
  // lines, flock(1)'s way of opening the path (symlinks followed,
  // directories locked), no ancestor trusted (see flock_compat.hpp).
  bool flock_conventions = false;

  lock_mode mode() const {
    return shared ? lock_mode::shared : lock_mode::exclusive;
  }
  // nullopt: wait forever; zero: one attempt.
  std::optional<std::chrono::nanoseconds> wait() const;
  std::optional<std::filesystem::perms> perms() const;
};

// Declares -s -x -n -w -E --mode -v -q and the LOCK positional.
void add_lock_options(CLI::App& cmd, lock_args& args);

// Prints "filelock: <text>" on stderr ("flock: " when invoked as flock).
void say(std::string_view text);
// The same on stdout, where flock(1) --verbose puts its reports.
void say_on_stdout(std::string_view text);
// The name say() starts its lines with.
void set_program_name(std::string name);

// The exit status for a failure of `operation` with `ec`.
exit_code code_for(std::string_view operation, const std::error_code& ec);
// The status util-linux flock(1) gives the same failure: the path cannot
// be opened 66 (73 for a read-only or full filesystem), the lock call
// failed 65, out of memory, descriptors or locks 71.
int flock_status_for(std::string_view operation, const std::error_code& ec);
// One of the two, as args says.
int status_for(const lock_args& args, std::string_view operation,
               const std::error_code& ec);

// "cannot open '/x': No such file or directory", plus a hint where one
// helps (a missing directory, a read-only filesystem, no OS locks).
std::string describe_failure(std::string_view operation,
                             const std::filesystem::path& path,
                             const std::error_code& ec);

// The message for a lock we could not get because someone holds it.
std::string describe_busy(const lock_args& args,
                          const std::optional<holder_info>& holder,
                          bool timed_out);

std::string describe_holder(const holder_info& h);

}  // namespace filelock::cli
