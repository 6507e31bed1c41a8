// filelock run [OPTIONS] LOCK -- COMMAND [ARG...]
// filelock run [OPTIONS] LOCK -c 'SHELL COMMAND'
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"
#include "process.hpp"

namespace filelock::cli {

struct run_args {
  lock_args lock;
  std::string shell_command;  // -c
  std::vector<std::string> command;
  bool inherit = false;       // the command keeps the lock descriptor
  bool no_fork = false;       // -F: exec the command in place
  bool close_fd = false;      // -o: flock(1)'s spelling of our default
  std::string kind = "auto";  // --kind os|soft|auto
  unsigned slots = 0;         // --slots: a semaphore of this many; 0: none
  bool fair = false;          // --fair: granted in arrival order
  std::string lifetime;       // --lifetime, raw text (soft locks)
  // --on-lost kill|warn; empty: the kind's default (soft: warn, etcd: kill)
  std::string on_lost;
  std::string max_runtime;  // --max-runtime, raw text
  std::string kill_after;   // --kill-after, raw text
  // Parsed by run_run: zero max_runtime_ms is no limit, zero kill_after_ms
  // is no SIGKILL.
  std::chrono::milliseconds max_runtime_ms{0};
  std::chrono::milliseconds kill_after_ms{std::chrono::seconds(10)};
};

CLI::App* setup_run(CLI::App& app, run_args& args);
// Fills args.command from what CLI11 left over (`rest`) and from the words
// after `--` (`after`, null when there was no `--`). Returns a usage error
// message when the words do not make a command line.
std::optional<std::string> take_command(run_args& args,
                                        const std::vector<std::string>& rest,
                                        const std::vector<std::string>* after);
int run_run(const run_args& args);

// Puts --max-runtime and --kill-after on the command's spec. A kill_after
// already there (an etcd lock's grace) is kept when it is the shorter.
void apply_time_limit(const run_args& args, child_spec& spec);
// 124, with a line on stderr, when the command ran out of time; `status`
// (the command's own) otherwise.
int time_limited_status(const run_args& args, const child_result& result,
                        int status);

}  // namespace filelock::cli
