// filelock release [OPTIONS] LOCK
//   Releases a soft lock taken with filelock acquire, only when the caller
//   owns it: the owner process is our parent (or --owner-pid), or --token
//   matches. --force releases whoever owns it. On a soft semaphore's name
//   it releases the caller's slot, or the slot --slot K names.
// filelock release [OPTIONS] --fd N
//   Unlocks the descriptor N that the calling shell opened, as
//   `flock -u 9` does.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common.hpp"

namespace filelock::cli {

struct release_args {
  std::string path;
  int fd = -1;  // --fd; -1 when not given
  std::string token;
  std::int64_t owner_pid = 0;  // 0: our parent
  unsigned slot = 0;  // --slot: a soft semaphore's slot; 0: the caller's
  bool force = false;
  bool json = false;
  bool verbose = false;
  bool quiet = false;
  bool flock_conventions = false;  // invoked as flock -u N: its statuses
};

CLI::App* setup_release(CLI::App& app, release_args& args);
int run_release(const release_args& args);

}  // namespace filelock::cli
