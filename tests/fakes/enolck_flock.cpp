// LD_PRELOAD shim: flock(2) fails with ENOLCK, as it does on an NFS mount
// whose client cannot reach a lock manager (C11). Loaded into the real
// filelock binary, it makes the automatic kind fall back to the soft lock
// without any switch inside the product.
#include <cerrno>

extern "C" int flock(int, int) {
  errno = ENOLCK;
  return -1;
}
