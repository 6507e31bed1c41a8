// filelock release [OPTIONS] --fd N
//   Unlocks the descriptor N that the calling shell opened, as
//   `flock -u 9` does.
#pragma once

#include <CLI/CLI.hpp>

#include "common.hpp"

namespace filelock::cli {

struct release_args {
  int fd = -1;  // --fd; -1 when not given
  bool verbose = false;
  bool quiet = false;
};

CLI::App* setup_release(CLI::App& app, release_args& args);
int run_release(const release_args& args);

}  // namespace filelock::cli
