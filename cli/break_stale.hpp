// filelock break-stale [--dry-run] [--json] [--force] LOCK...
//   Removes soft locks whose owner is provably gone or whose lifetime ran
//   out; never a live lock, never an OS lock, never an unknown owner's
//   marker unless forced.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common.hpp"

namespace filelock::cli {

struct break_stale_args {
  std::vector<std::string> paths;
  bool dry_run = false;
  bool json = false;
  bool force = false;
  std::string kind = "auto";
};

CLI::App* setup_break_stale(CLI::App& app, break_stale_args& args);
int run_break_stale(const break_stale_args& args);

}  // namespace filelock::cli
