// filelock run [OPTIONS] LOCK -- COMMAND [ARG...]
// filelock run [OPTIONS] LOCK -c 'SHELL COMMAND'
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common.hpp"

namespace filelock::cli {

struct run_args {
  lock_args lock;
  std::string shell_command;  // -c
  std::vector<std::string> command;
  bool inherit = false;  // the command keeps the lock descriptor
  bool no_fork = false;  // -F: exec the command in place
  bool close_fd = false; // -o: flock(1)'s spelling of our default
  std::string kind = "auto";  // --kind os|soft|auto
  std::string lifetime;       // --lifetime, raw text (soft locks)
  bool kill_on_loss = false;  // --kill-on-loss: TERM the command
};

CLI::App* setup_run(CLI::App& app, run_args& args);
// Fills args.command from what CLI11 left over (`rest`) and from the words
// after `--` (`after`, null when there was no `--`). Returns a usage error
// message when the words do not make a command line.
std::optional<std::string> take_command(run_args& args,
                                        const std::vector<std::string>& rest,
                                        const std::vector<std::string>* after);
int run_run(const run_args& args);

}  // namespace filelock::cli
