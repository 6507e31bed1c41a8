// A blocking flock() that a deadline or a stop request can interrupt.
#pragma once

#include <stop_token>
#include <system_error>

#include "filelock/lock.hpp"
#include "platform.hpp"

namespace filelock::detail::posix {

// Blocks in flock(fd, operation) until it is granted (acquired), until
// passes (timed_out) or stop fires (cancelled). Any other error: failed.
platform::wait_status blocking_flock(int fd, int operation,
                                     const deadline& until,
                                     const std::stop_token& stop,
                                     std::error_code& ec) noexcept;

}  // namespace filelock::detail::posix
