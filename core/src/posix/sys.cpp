#include "posix/sys.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

namespace filelock::detail::sys {
namespace {

int real_open(const char* path, int flags, mode_t mode) {
  return ::open(path, flags, mode);
}

constexpr table real{real_open, ::flock, ::fstat, ::lstat,
                     ::fchmod,  ::close, ::stat};
table live = real;

template <class F>
int retry_eintr(F&& call) noexcept {
  int r;
  do {
    r = call();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace

table& calls() noexcept {
  return live;
}
const table& real_calls() noexcept {
  return real;
}

int open(const char* path, int flags, mode_t mode) noexcept {
  return retry_eintr([&] { return live.open(path, flags, mode); });
}
int flock_once(int fd, int operation) noexcept {
  return live.flock(fd, operation);
}
int flock(int fd, int operation) noexcept {
  return retry_eintr([&] { return live.flock(fd, operation); });
}
int fstat(int fd, struct stat* st) noexcept {
  return retry_eintr([&] { return live.fstat(fd, st); });
}
int lstat(const char* path, struct stat* st) noexcept {
  return retry_eintr([&] { return live.lstat(path, st); });
}
int stat(const char* path, struct stat* st) noexcept {
  return retry_eintr([&] { return live.stat(path, st); });
}
int fchmod(int fd, mode_t mode) noexcept {
  return retry_eintr([&] { return live.fchmod(fd, mode); });
}
int close(int fd) noexcept {
  return live.close(fd);
}

}  // namespace filelock::detail::sys
