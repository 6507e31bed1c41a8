// --fd has no Windows form: a byte-range lock belongs to the process that
// took it, so a lock taken here would end with this process; and shells on
// Windows hand no numbered descriptors to the programs they start.
#include <system_error>

#include "fd_lock.hpp"

namespace filelock::cli {

fd_lock_status lock_descriptor(int, lock_mode,
                               std::optional<std::chrono::nanoseconds>,
                               std::error_code& ec) {
  ec = std::make_error_code(std::errc::not_supported);
  return fd_lock_status::failed;
}

void unlock_descriptor(int, std::error_code& ec) {
  ec = std::make_error_code(std::errc::not_supported);
}

std::string descriptor_path(int) {
  return {};
}

}  // namespace filelock::cli
