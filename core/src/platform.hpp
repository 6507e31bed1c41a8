// The one header through which the portable code reaches the platform.
// Implementations: posix/*.cpp and win32/*.cpp. No other file of the core
// tests for the platform.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <string>
#include <system_error>
#include <vector>

#include "filelock/lock.hpp"

namespace filelock::detail::platform {

// The identity of an open file: two descriptors name the same lock exactly
// when their ids are equal, whatever paths they were opened by.
struct file_id {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  friend auto operator<=>(const file_id&, const file_id&) = default;
};

// An owned descriptor (POSIX) or handle (Windows, stored as an integer).
class file_handle {
 public:
  file_handle() noexcept = default;
  explicit file_handle(std::intptr_t h) noexcept : h_(h) {}
  file_handle(file_handle&& o) noexcept : h_(o.h_) { o.h_ = invalid; }
  file_handle& operator=(file_handle&& o) noexcept;
  ~file_handle() { close(); }
  file_handle(const file_handle&) = delete;
  file_handle& operator=(const file_handle&) = delete;

  static constexpr std::intptr_t invalid = -1;
  bool valid() const noexcept { return h_ != invalid; }
  std::intptr_t get() const noexcept { return h_; }
  std::intptr_t release() noexcept {
    auto h = h_;
    h_ = invalid;
    return h;
  }
  void close() noexcept;

 private:
  std::intptr_t h_ = invalid;
};

// What failed, for error messages: "cannot <operation> '<path>': <code>".
struct failure {
  std::string operation;
  std::error_code code;
};

// Opens the lock file at path, creating it when missing, never following a
// symlink in the last component, never truncating, close-on-exec. A new
// file gets file_mode (regardless of umask) when one is given. Falls back to
// a read-only open where write access is refused, since flock() does not
// need it. Returns an invalid handle and fills why on failure.
file_handle open_lock_file(const std::filesystem::path& path, lock_mode mode,
                           std::optional<std::filesystem::perms> file_mode,
                           failure& why) noexcept;

bool identify(const file_handle& h, file_id& id, std::error_code& ec) noexcept;

enum class wait_status { acquired, busy, timed_out, cancelled, failed };

// Takes the OS lock on h: one attempt when until is in the past, otherwise
// a blocking wait in the kernel that ends at until or when stop fires.
wait_status lock_file(const file_handle& h, lock_mode mode,
                      const deadline& until, const std::stop_token& stop,
                      std::error_code& ec) noexcept;

void unlock_file(const file_handle& h, std::error_code& ec) noexcept;

// True when path still names the file with this id (it was not removed or
// replaced while we waited for the lock).
bool path_names(const std::filesystem::path& path, const file_id& id,
                std::error_code& ec) noexcept;

// Holders of OS locks on the file, as the kernel reports them. Empty where
// the platform cannot tell.
std::vector<holder_info> os_lock_holders(const file_id& id);

std::int64_t current_pid() noexcept;

// The command line of a live process, or empty.
std::string process_command(std::int64_t pid);

std::string host_name();

}  // namespace filelock::detail::platform
