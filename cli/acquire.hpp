// filelock acquire [OPTIONS] --fd N
//   Locks the descriptor N that the calling shell opened (`exec 9>file`),
//   as `flock 9` does; the lock stays with the shell's descriptor.
#pragma once

#include <CLI/CLI.hpp>

#include "common.hpp"

namespace filelock::cli {

struct acquire_args {
  lock_args lock;
  int fd = -1;  // --fd; -1 when not given
};

CLI::App* setup_acquire(CLI::App& app, acquire_args& args);
int run_acquire(const acquire_args& args);

}  // namespace filelock::cli
