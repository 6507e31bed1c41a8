// The entry points of the lock backends; file_lock dispatches on the kind.
#pragma once

#include <filesystem>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "filelock/lock.hpp"

namespace filelock::detail {

// Who an acquisition belongs to inside this process, for reentrancy.
using owner_id = std::thread::id;

struct request {
  const std::filesystem::path& path;
  lock_mode mode;
  const deadline& until;
  const std::stop_token& stop;
  const lock_options& options;
  owner_id owner;
  // A soft semaphore's slot (slots.cpp): path is the slot's marker, and the
  // guard shows the semaphore's name and this slot number. A slot is never
  // joined by reentrancy: each acquire takes one more slot.
  const std::filesystem::path* slot_of = nullptr;
  unsigned slot = 0;
};

// A failed acquire: what was being done and why.
acquire_result failed_result(std::string operation, std::error_code ec);

// Passes line to the caller's on_diagnostic, if any. What the callback
// throws is dropped: a diagnostic must not turn a lock into a failure.
void tell(const request& r, const std::string& line) noexcept;

acquire_result os_acquire(const request& r) noexcept;
acquire_result soft_acquire(const request& r) noexcept;
std::vector<holder_info> os_holders(const std::filesystem::path& path);

// Semaphores (lock_options::slots; see slots.cpp).
acquire_result slots_acquire(const request& r) noexcept;
std::vector<holder_info> slots_holders(const std::filesystem::path& path);

}  // namespace filelock::detail
