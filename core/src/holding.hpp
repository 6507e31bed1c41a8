// One acquisition of a lock, behind a guard. Each backend has its own.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include "filelock/lock.hpp"

namespace filelock::detail {

class holding {
 public:
  virtual ~holding() = default;
  virtual lock_mode mode() const noexcept = 0;
  virtual const std::filesystem::path& path() const noexcept = 0;
  virtual int native_handle() const noexcept = 0;
  virtual bool is_intact(std::error_code& ec) const noexcept = 0;
  virtual lock_kind kind() const noexcept { return lock_kind::os; }
  virtual unsigned slot() const noexcept { return 0; }
  // Renews what needs renewing; errc::lock_lost when no longer held.
  virtual void refresh(std::error_code& ec) noexcept {
    if (!is_intact(ec) && !ec) ec = make_error_code(errc::lock_lost);
  }
  // Gives up ownership without releasing; returns the soft lock's token.
  // The guard drops the holding afterwards, without calling release().
  virtual std::string detach(std::error_code& ec) noexcept {
    ec = make_error_code(errc::detach_unsupported);
    return {};
  }
  // See guard::add_keeper.
  virtual void add_keeper(std::int64_t pid, std::error_code& ec) noexcept {
    (void)pid;
    ec.clear();
  }
  // Gives this acquisition back. The guard calls it at most once.
  virtual void release(std::error_code& ec) noexcept = 0;
  // Only the OS lock differs: it closes without unlocking.
  virtual void release_to_inheritors(std::error_code& ec) noexcept {
    release(ec);
  }
};

}  // namespace filelock::detail
