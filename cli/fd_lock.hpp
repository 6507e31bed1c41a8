// Locking a descriptor that the calling shell opened (`exec 9>file`), for
// `acquire --fd N` and `release --fd N`, as `flock 9` and `flock -u 9` do.
//
// flock(2) locks belong to the open file description, which the shell
// shares with this process through the inherited descriptor: a lock taken
// here stays held after filelock exits, until the shell closes its last
// descriptor to it or unlocks it. POSIX only; elsewhere every call fails
// with std::errc::not_supported.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "filelock/lock.hpp"

namespace filelock::cli {

enum class fd_lock_status { acquired, busy, timed_out, failed };

// Takes the lock on fd: one attempt when wait is zero, a kernel wait
// bounded by wait otherwise, an unbounded one when there is no wait. On
// failure ec holds the OS error (EBADF for a descriptor that is not open).
fd_lock_status lock_descriptor(int fd, lock_mode mode,
                               std::optional<std::chrono::nanoseconds> wait,
                               std::error_code& ec);

void unlock_descriptor(int fd, std::error_code& ec);

// What the descriptor names, for messages: its path where the platform
// can tell (Linux), else empty.
std::string descriptor_path(int fd);

}  // namespace filelock::cli
