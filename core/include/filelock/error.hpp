// Errors reported by the filelock library.
//
// Every failure that is not "somebody else holds the lock" is reported as a
// filelock::error: the operation that failed, the path it failed on, and a
// std::error_code. The code is either an OS error (std::system_category, the
// raw errno or Win32 error kept as it was) or one of filelock::errc below.
//
// what() reads "cannot <operation> '<path>': <reason>", lowercase, with no
// final period, e.g. "cannot open '/var/lock/x': Permission denied". The
// library never prints: the program adds its own name in front.
//
// Functions that may be called on cleanup paths (release, destructors) have
// non-throwing overloads taking a std::error_code&. Destructors never throw.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

namespace filelock {

// Conditions that are the library's own rather than the OS's.
enum class errc {
  // The lock is held by someone else and no (more) waiting was allowed.
  busy = 1,
  // The deadline passed before the lock could be taken.
  timed_out,
  // A stop was requested while waiting.
  cancelled,
  // The calling owner already holds this lock in a mode that makes the
  // request wait for itself forever (a shared holder asking for exclusive).
  would_deadlock,
  // The filesystem refuses OS locks (ENOLCK, EOPNOTSUPP, ENOSYS, ...).
  locking_unsupported,
  // The lock object was inherited across fork(); only the parent may use it.
  inherited_across_fork,
  // The guard holds nothing (already released or moved from).
  not_held,
  // The lock was taken away while held (marker removed or replaced).
  lock_lost,
  // The lock's on-disk record cannot be parsed.
  bad_record,
  // A symbolic link sits at the lock path; it is never followed.
  symlink_refused,
  // The lock path names a FIFO, socket or device, not a regular file.
  not_a_regular_file,
  // The caller does not own the soft lock it asked to release.
  not_owner,
  // Soft locks are exclusive only; a shared request is refused.
  shared_soft_unsupported,
  // Only a soft lock can outlive its guard (guard::detach).
  detach_unsupported,
  // An exclusive lock was refused on a descriptor opened read-only (the
  // caller may not write the file), by a filesystem whose locks are
  // byte-range locks that need write access for exclusive mode (NFS).
  exclusive_needs_write_access,
  // A semaphore (lock_options::slots) was asked for with another number of
  // slots than its name records, or the name is a file that records none.
  slots_mismatch,
  // Slots were asked of something that has none: a shared request, a soft
  // or etcd lock, or a count outside 1..kMaxSlots.
  slots_unsupported,
  // A fair queue (lock_options::fair) was asked of what has none: a shared
  // request, a soft lock, or a semaphore.
  fair_unsupported,
  // The fair queue's directory, "<name>.fair", is something else there
  // (a file, a FIFO, a symbolic link).
  fair_queue_not_a_directory,
};

// True for the errors by which a filesystem says it does not do OS locks
// (ENOLCK, EOPNOTSUPP, ENOSYS, ...), as opposed to "somebody holds it".
bool is_locking_unsupported(const std::error_code& ec) noexcept;

const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

class error : public std::system_error {
 public:
  // operation is a verb phrase such as "open", "lock" or "create".
  error(std::string operation, std::filesystem::path path,
        std::error_code code);

  const std::string& operation() const noexcept { return operation_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::string operation_;
  std::filesystem::path path_;
};

// Thrown by the blocking, throwing acquire forms when a deadline passes.
class timeout_error : public error {
 public:
  using error::error;
};

}  // namespace filelock

template <>
struct std::is_error_code_enum<filelock::errc> : std::true_type {};
