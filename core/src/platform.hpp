// The one header through which the portable code reaches the platform.
// Implementations: posix/*.cpp and win32/*.cpp. No other file of the core
// tests for the platform.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
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

// What open_lock_file accepts at the path beyond a regular file of that
// name (lock_options::follow_symlink, allow_directory).
struct open_rules {
  bool follow_symlink = false;
  bool allow_directory = false;
};

// Opens the lock file at path, creating it when missing, never following a
// symlink in the last component (unless rules say so), never truncating,
// close-on-exec. A new file gets file_mode (regardless of umask) when one
// is given. Falls back to a read-only open where write access is refused,
// since flock() does not need it. Returns an invalid handle and fills why
// on failure. With id, also identifies the file (as identify() does), from
// the status read to check its type: one system call less per acquire;
// with size, gives its size in bytes from the same status.
file_handle open_lock_file(const std::filesystem::path& path, lock_mode mode,
                           std::optional<std::filesystem::perms> file_mode,
                           failure& why, const open_rules& rules = {},
                           file_id* id = nullptr,
                           std::uint64_t* size = nullptr) noexcept;

bool identify(const file_handle& h, file_id& id, std::error_code& ec) noexcept;

// Opens the existing regular file at path to lock it, as open_lock_file
// does, but never creates it (a fair queue's ticket: opening one that its
// owner removed meanwhile must not bring it back). Also identifies it. A
// missing file gives an invalid handle with why.code clear.
file_handle open_existing_lock_file(const std::filesystem::path& path,
                                    file_id& id, failure& why) noexcept;

enum class wait_status { acquired, busy, timed_out, cancelled, failed };

// Takes the OS lock on h: one attempt when until is in the past, otherwise
// a blocking wait in the kernel that ends at until or when stop fires.
wait_status lock_file(const file_handle& h, lock_mode mode,
                      const deadline& until, const std::stop_token& stop,
                      std::error_code& ec) noexcept;

void unlock_file(const file_handle& h, std::error_code& ec) noexcept;

// True when path still names the file with this id (it was not removed or
// replaced while we waited for the lock). With follow_symlink a symlink at
// the path is followed: what it names now must be that file.
bool path_names(const std::filesystem::path& path, const file_id& id,
                std::error_code& ec, bool follow_symlink = false) noexcept;

// Holders of OS locks on the file, as the kernel reports them. Empty where
// the platform cannot tell.
std::vector<holder_info> os_lock_holders(const file_id& id);
// True where os_lock_holders() sees every holder (Linux: /proc/locks), so
// that an empty list means nobody holds the lock.
bool os_lock_holders_complete() noexcept;

std::int64_t current_pid() noexcept;

// False where a std::stop_callback may hang for good when it is destroyed
// while a stop request on another thread runs it: the mingw-w64 GCC 12
// runtime (GCC bug 98033; see wait_win32.cpp). Code that only uses one to
// cut a wait short then leaves it out, and looks at the token on a timer.
bool stop_callbacks_safe() noexcept;

// ---- Shared libraries loaded at run time (the etcd backend's libcurl)

// The names under which the platform's loader finds libcurl's stable ABI
// (soname libcurl.so.4 and its equivalents), most likely first.
std::vector<std::string> curl_library_names();
// Opens a shared library for the rest of the process (it is never
// closed). Null on failure, with the loader's reason, which names the
// library, in error.
void* open_library(const std::string& name, std::string& error) noexcept;
// The address of an exported function, or null.
void* library_symbol(void* library, const char* name) noexcept;

// The command line of a live process, or empty.
std::string process_command(std::int64_t pid);

std::string host_name();

// ---- Processes, for judging a soft lock's owner (posix/process_posix.cpp)

// gone: provably no such process (or a zombie, which never runs again).
// unknown: cannot tell; callers treat it as alive.
enum class liveness { alive, gone, unknown };
liveness process_liveness(std::int64_t pid) noexcept;

// The process's start time in the kernel's units, as digits (Linux: field
// 22 of /proc/PID/stat); empty where unknown.
std::string process_start(std::int64_t pid);
// The same as a wall-clock time, where it can be computed.
std::optional<std::chrono::system_clock::time_point> process_start_time(
    std::int64_t pid);

// When this machine last booted, by the wall clock (Linux: btime in
// /proc/stat); nullopt where the platform does not tell it reliably.
std::optional<std::chrono::system_clock::time_point> boot_time() noexcept;

// Changes on every boot (Linux: /proc/sys/kernel/random/boot_id); empty
// where the platform has none.
std::string boot_id();

// A random UUID (version 4) from the kernel's random source.
std::string new_token();

// ---- Soft markers (posix/marker_posix.cpp)

struct marker_state {
  file_id id;
  std::string content;  // at most kMaxRecordSize bytes
  bool oversized = false;
  std::chrono::system_clock::time_point mtime;
};

enum class read_status { ok, missing, failed };

// Reads the marker at path without following a symlink and without
// creating anything. missing: there is none (ENOENT, ESTALE: it changed
// under us, which a caller treats like a removal).
read_status read_marker(const std::filesystem::path& path, marker_state& out,
                        failure& why) noexcept;

// True when someone holds an OS lock on the file at path that has this id
// (a non-blocking probe). False, with ec clear, where the filesystem has no
// OS locks (nobody can hold one there).
bool os_lock_held(const std::filesystem::path& path, const file_id& id,
                  std::error_code& ec) noexcept;

// Creates `path` exclusively (it is a fresh unique name), writes all of
// content and, with sync, flushes it to disk. On any failure the file is
// removed again and why says what failed ("write": ENOSPC, EIO, ...).
file_handle write_new_file(const std::filesystem::path& path,
                           std::string_view content,
                           std::optional<std::filesystem::perms> file_mode,
                           bool sync, failure& why) noexcept;

// Replaces the whole content of an open file (truncate, write and, with
// sync, flush to disk).
bool rewrite_file(const file_handle& h, std::string_view content, bool sync,
                  failure& why) noexcept;

enum class publish_status { linked, exists, failed };

// Gives the file `from` (open as h) the second name `to`, failing if `to`
// exists. The old name stays; the caller removes it.
publish_status publish(const file_handle& h, const std::filesystem::path& from,
                       const std::filesystem::path& to,
                       std::error_code& ec) noexcept;

// Removes path. Returns false with ec clear when it was already gone.
bool remove_file(const std::filesystem::path& path,
                 std::error_code& ec) noexcept;

// True when something (not followed if a symlink) is at path.
bool exists(const std::filesystem::path& path, std::error_code& ec) noexcept;

// Sets the file's mtime to now.
bool touch(const file_handle& h, std::error_code& ec) noexcept;

// True when the filesystem holding dir refuses OS locks (ENOLCK,
// EOPNOTSUPP, ENOSYS), found out without creating anything.
bool refuses_os_locks(const std::filesystem::path& dir) noexcept;

// True for filesystems where another machine may change the directory
// without a local notification (NFS, SMB/CIFS, FUSE, ...).
bool is_network_filesystem(const std::filesystem::path& dir) noexcept;

// ---- Waiting for a name to go away (posix/watch_posix.cpp)

// Watches one directory for the removal or renaming of one name in it.
// Events that happen after the watch is made are never missed, so make it
// before looking at the name.
class dir_watch {
 public:
  enum class woken { changed, timeout, stopped };

  dir_watch() noexcept;
  ~dir_watch();
  dir_watch(const dir_watch&) = delete;
  dir_watch& operator=(const dir_watch&) = delete;

  // Starts watching. Returns false when notifications are not available
  // there (no inotify, a network filesystem): wait() then only sleeps.
  bool start(const std::filesystem::path& dir, std::string name) noexcept;
  bool notifying() const noexcept;

  // Also wakes wait() when process pid (of this host) exits, where the
  // platform can tell (Linux 5.3+: a pidfd); 0 stops watching. A holder
  // that dies removes nothing, so without this only the next poll would
  // notice.
  void watch_process(std::int64_t pid) noexcept;
  // True while wait() also wakes on that process's exit: it could be
  // watched, and its exit has not been seen yet.
  bool watching_process() const noexcept;

  // Sleeps until the name changes (if notifying), timeout passes, or stop
  // fires, whichever comes first.
  woken wait(std::chrono::milliseconds timeout,
             const std::stop_token& stop) noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace filelock::detail::platform
