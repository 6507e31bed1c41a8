// LD_PRELOAD shim: flock(2) as Linux does it on NFS, where it becomes a
// POSIX byte-range lock, whose exclusive (write) form needs a descriptor
// open for writing: LOCK_EX on a read-only descriptor fails with EBADF
// (C12, gofrs/flock#95). Every other call goes to the real flock().
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>

extern "C" int flock(int fd, int operation) {
  using flock_fn = int (*)(int, int);
  static const auto real =
      reinterpret_cast<flock_fn>(dlsym(RTLD_NEXT, "flock"));
  const int flags = fcntl(fd, F_GETFL);
  if ((operation & LOCK_EX) && flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
    errno = EBADF;
    return -1;
  }
  return real(fd, operation);
}
