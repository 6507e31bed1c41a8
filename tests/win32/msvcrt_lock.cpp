// Locks a file the way Python's filelock does on Windows
// (msvcrt.locking(fd, LK_NBLCK, 1) at offset 0), to show that it and
// filelock exclude each other without Python under Wine:
//   msvcrt_lock try PATH           exit 0 if locked at once, 75 if busy
//   msvcrt_lock hold PATH SECONDS  lock, print "locked", sleep, unlock
#include <fcntl.h>
#include <io.h>
#include <share.h>
#include <sys/locking.h>
#include <sys/stat.h>
#include <windows.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc < 3) return 64;
  const int fd =
      _sopen(argv[2], _O_RDWR | _O_CREAT, _SH_DENYNO, _S_IREAD | _S_IWRITE);
  if (fd < 0) return 66;
  if (_locking(fd, _LK_NBLCK, 1) != 0) return 75;
  if (std::strcmp(argv[1], "hold") == 0 && argc == 4) {
    std::printf("locked\n");
    std::fflush(stdout);
    Sleep(static_cast<DWORD>(std::atof(argv[3]) * 1000));
  }
  _lseek(fd, 0, SEEK_SET);
  _locking(fd, _LK_UNLCK, 1);
  _close(fd);
  return 0;
}
