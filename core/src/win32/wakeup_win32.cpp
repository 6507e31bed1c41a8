// The wake-up signal is how POSIX interrupts a blocking flock(); Windows
// waits on events instead (wait_win32.cpp), so there is nothing to choose.
#include "filelock/wakeup.hpp"

namespace filelock {

int wakeup_signal() noexcept {
  return 0;
}

bool set_wakeup_signal(int) noexcept {
  return true;
}

}  // namespace filelock
