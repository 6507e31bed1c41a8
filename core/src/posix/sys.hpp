// Every system call the POSIX backend makes that can fail goes through this
// table, so that tests can inject failures (EINTR, EIO, ENOLCK, ENOSPC,
// EACCES, EROFS, ...) deterministically into each operation. The wrappers
// below retry on EINTR, except close(): on Linux the descriptor is gone even
// when close reports EINTR, and retrying could close a descriptor that
// another thread has just been given.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

namespace filelock::detail::sys {

struct table {
  int (*open)(const char* path, int flags, mode_t mode);
  int (*flock)(int fd, int operation);
  int (*fstat)(int fd, struct stat* st);
  int (*lstat)(const char* path, struct stat* st);
  int (*fchmod)(int fd, mode_t mode);
  int (*close)(int fd);
  int (*stat)(const char* path, struct stat* st);
};

// The live table. Tests may overwrite entries and must restore them.
table& calls() noexcept;
// The real system calls, for restoring and for forwarding from a fake.
const table& real_calls() noexcept;

int open(const char* path, int flags, mode_t mode = 0) noexcept;
// One flock() call; EINTR is returned to the caller, who decides whether the
// wait is over (deadline, stop request) or goes on.
int flock_once(int fd, int operation) noexcept;
// flock() retried on EINTR, for non-blocking operations and unlock.
int flock(int fd, int operation) noexcept;
int fstat(int fd, struct stat* st) noexcept;
int lstat(const char* path, struct stat* st) noexcept;
int stat(const char* path, struct stat* st) noexcept;
int fchmod(int fd, mode_t mode) noexcept;
int close(int fd) noexcept;

}  // namespace filelock::detail::sys
