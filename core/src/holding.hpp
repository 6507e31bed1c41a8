// One acquisition of a lock, behind a guard. Each backend has its own.
#pragma once

#include <filesystem>
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
  // Gives this acquisition back. The guard calls it at most once.
  virtual void release(std::error_code& ec) noexcept = 0;
};

}  // namespace filelock::detail
