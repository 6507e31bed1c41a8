// filelock acquire [OPTIONS] LOCK
//   Takes a soft lock that stays held after this command returns, owned by
//   the calling process (our parent: the script's shell) or --owner-pid.
// filelock acquire --slots N [OPTIONS] LOCK
//   The same for one slot of a soft semaphore; --json and -v say which.
// filelock acquire [OPTIONS] --fd N
//   Locks the descriptor N that the calling shell opened (`exec 9>file`),
//   as `flock 9` does; the lock stays with the shell's descriptor.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "common.hpp"

namespace filelock::cli {

struct acquire_args {
  lock_args lock;              // lock.path is empty with --fd
  int fd = -1;                 // --fd; -1 when not given
  std::string lifetime;        // raw text, checked by parse_duration
  std::int64_t owner_pid = 0;  // 0: our parent
  bool json = false;
  unsigned slots = 0;  // --slots: a slot of a soft or etcd semaphore; 0: none
};

CLI::App* setup_acquire(CLI::App& app, acquire_args& args);
int run_acquire(const acquire_args& args);

// The process a soft lock taken or released by this command belongs to:
// --owner-pid, else our parent.
std::int64_t owner_process(std::int64_t owner_pid_option);

}  // namespace filelock::cli
