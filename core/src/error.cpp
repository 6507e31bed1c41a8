#include "filelock/error.hpp"

#include <cerrno>
#include <string>

namespace filelock {
namespace {

class category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "filelock"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::busy:
        return "held by another process";
      case errc::timed_out:
        return "timed out";
      case errc::cancelled:
        return "cancelled";
      case errc::would_deadlock:
        return "already held shared by this owner; waiting for exclusive "
               "would deadlock";
      case errc::locking_unsupported:
        return "the filesystem does not support OS locks";
      case errc::inherited_across_fork:
        return "lock inherited across fork; only the parent may release it";
      case errc::not_held:
        return "not held";
      case errc::lock_lost:
        return "the lock was lost while held";
      case errc::bad_record:
        return "the lock's owner record cannot be parsed";
      case errc::symlink_refused:
        return "is a symbolic link, which a lock path must not be";
      case errc::not_a_regular_file:
        return "not a regular file";
      case errc::not_owner:
        return "the lock is owned by someone else";
      case errc::shared_soft_unsupported:
        return "soft locks are exclusive only; a shared lock needs the OS "
               "lock";
      case errc::detach_unsupported:
        return "only a soft lock can outlive its process";
      case errc::exclusive_needs_write_access:
        return "an exclusive lock on this filesystem needs write access to "
               "the file";
      case errc::slots_mismatch:
        return "the lock is a semaphore with another number of slots, or "
               "not a semaphore";
      case errc::slots_unsupported:
        return "slots need an exclusive OS lock and a count from 1 to 64";
      case errc::fair_unsupported:
        return "a fair queue needs an exclusive OS lock without slots";
      case errc::fair_queue_not_a_directory:
        return "its fair queue, the name with .fair added, is not a "
               "directory (a file or a symbolic link is there)";
    }
    return "unknown filelock error";
  }
};

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

bool is_locking_unsupported(const std::error_code& ec) noexcept {
  if (ec == errc::locking_unsupported) return true;
  if (ec.category() != std::system_category()) return false;
  switch (ec.value()) {
    case ENOLCK:
    case EOPNOTSUPP:
#if defined(ENOTSUP) && ENOTSUP != EOPNOTSUPP
    case ENOTSUP:
#endif
    case ENOSYS:
      return true;
    default:
      return false;
  }
}

error::error(std::string operation, std::filesystem::path path,
             std::error_code code)
    : std::system_error(code,
                        "cannot " + operation + " '" + path.string() + "'"),
      operation_(std::move(operation)),
      path_(std::move(path)) {}

}  // namespace filelock
