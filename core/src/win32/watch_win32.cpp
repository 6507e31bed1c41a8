// Waking a soft waiter when the marker goes away, on Windows: a change
// notification on the directory (FindFirstChangeNotificationW). It does
// not say which name changed, so any change of a name, a size or a write
// time in the directory wakes the waiter, who then looks again.
#include <algorithm>

#include "win32/win32.hpp"

namespace filelock::detail::platform {

struct dir_watch::impl {
  HANDLE change = INVALID_HANDLE_VALUE;
  HANDLE process = nullptr;  // signalled when the watched process exits
  std::int64_t pid = 0;
  std::string name;

  ~impl() {
    if (change != INVALID_HANDLE_VALUE) FindCloseChangeNotification(change);
    forget_process();
  }

  void forget_process() {
    if (process != nullptr) CloseHandle(process);
    process = nullptr;
  }
};

dir_watch::dir_watch() noexcept = default;
dir_watch::~dir_watch() = default;

bool dir_watch::start(const std::filesystem::path& dir,
                      std::string name) noexcept try {
  impl_ = std::make_unique<impl>();
  impl_->name = std::move(name);
  // A removal by another machine on a share may send no notification:
  // only polling sees it there.
  if (is_network_filesystem(dir)) return false;
  std::error_code ec;
  const auto wdir = win32::wide_path(dir, ec);
  if (ec) return false;
  // Watching starts here: a change made after this call is never missed.
  impl_->change = FindFirstChangeNotificationW(
      wdir.c_str(), FALSE,
      FILE_NOTIFY_CHANGE_FILE_NAME | FILE_NOTIFY_CHANGE_LAST_WRITE |
          FILE_NOTIFY_CHANGE_ATTRIBUTES);
  return impl_->change != INVALID_HANDLE_VALUE;
} catch (const std::bad_alloc&) {
  return false;
}

bool dir_watch::notifying() const noexcept {
  return impl_ && impl_->change != INVALID_HANDLE_VALUE;
}

void dir_watch::watch_process(std::int64_t pid) noexcept {
  if (!impl_ || pid == impl_->pid) return;
  impl_->forget_process();
  impl_->pid = pid;
  // A process that is already gone (or not ours to open) is not watched:
  // the caller's next look sees that anyway.
  if (pid > 0 && pid <= 0xFFFFFFFF) {
    impl_->process = OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid));
  }
}

bool dir_watch::watching_process() const noexcept {
  return impl_ && impl_->process != nullptr;
}

dir_watch::woken dir_watch::wait(std::chrono::milliseconds timeout,
                                 const std::stop_token& stop) noexcept {
  // The stop request is looked at every 10 ms, not through a
  // std::stop_callback (see wait_win32.cpp: GCC bug 98033).
  constexpr std::int64_t kStopCheck = 10;
  const auto until = steady_clock::now() + timeout;
  for (;;) {
    if (stop.stop_requested()) return woken::stopped;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        until - steady_clock::now());
    std::int64_t ms = std::max<std::int64_t>(left.count(), 0);
    if (stop.stop_possible()) ms = std::min(ms, kStopCheck);
    const auto wait_ms =
        static_cast<DWORD>(std::min<std::int64_t>(ms, INFINITE - 1));
    HANDLE events[2];
    DWORD count = 0;
    if (notifying()) events[count++] = impl_->change;
    if (impl_ && impl_->process != nullptr) events[count++] = impl_->process;
    DWORD r = WAIT_TIMEOUT;
    if (count == 0) {
      Sleep(wait_ms);
    } else {
      r = WaitForMultipleObjects(count, events, FALSE, wait_ms);
    }
    if (r < WAIT_OBJECT_0 + count) {
      if (events[r - WAIT_OBJECT_0] == impl_->process) {
        // Exited: stop watching it, or every later wait would end at once.
        impl_->forget_process();
      } else {
        // Re-armed before the caller looks, so that a change made while
        // it looks wakes the next wait.
        FindNextChangeNotification(impl_->change);
      }
      return woken::changed;
    }
    if (stop.stop_requested()) return woken::stopped;
    if (steady_clock::now() >= until) return woken::timeout;
  }
}

}  // namespace filelock::detail::platform
