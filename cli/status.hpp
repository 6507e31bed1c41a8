// filelock status [--json] [--kind os|soft|auto] LOCK...
//   Says for each lock whether it is free, held (by whom) or stale (why),
//   without taking it, creating it or getting in anybody's way.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common.hpp"
#include "filelock/inspect.hpp"

namespace filelock::cli {

struct status_args {
  std::vector<std::string> paths;
  bool json = false;
  std::string kind = "auto";
};

CLI::App* setup_status(CLI::App& app, status_args& args);
int run_status(const status_args& args);

// The status for one lock's state: 0 held, 1 free, 2 stale.
int status_for(lock_state state);

// The status for several: a failure's (the first one's) over stale (2)
// over free (1) over held (0), so that 0 means every lock is held.
int combine_status(int so_far, int next);

// Declares --kind for status and break-stale; parse_kind reads it.
void add_kind_option(CLI::App& cmd, std::string& kind);
lock_kind parse_kind(const std::string& kind);

}  // namespace filelock::cli
