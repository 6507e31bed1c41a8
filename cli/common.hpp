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

  lock_mode mode() const {
    return shared ? lock_mode::shared : lock_mode::exclusive;
  }
  // nullopt: wait forever; zero: one attempt.
  std::optional<std::chrono::nanoseconds> wait() const;
  std::optional<std::filesystem::perms> perms() const;
};

// Declares -s -x -n -w -E --mode -v -q and the LOCK positional.
void add_lock_options(CLI::App& cmd, lock_args& args);

// Prints "filelock: <text>" on stderr.
void say(std::string_view text);

// The exit status for a failure of `operation` with `ec`.
exit_code code_for(std::string_view operation, const std::error_code& ec);

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
