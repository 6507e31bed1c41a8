#include "posix/wait.hpp"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "filelock/wakeup.hpp"
#include "posix/sys.hpp"

namespace filelock {
namespace {

std::atomic<int> chosen_signal{0};
std::atomic<bool> handler_installed{false};
std::mutex install_mutex;

extern "C" void on_wakeup(int) {}

bool disposition_is_default(int signo) {
  struct sigaction old {};
  return sigaction(signo, nullptr, &old) == 0 && old.sa_handler == SIG_DFL &&
         !(old.sa_flags & SA_SIGINFO);
}

int pick_signal() {
#ifdef SIGRTMAX
  // Applications that use real-time signals tend to take them from the
  // bottom (SIGRTMIN + n), so search from the top.
  for (int s = SIGRTMAX; s >= SIGRTMIN; --s) {
    if (disposition_is_default(s)) return s;
  }
  return SIGRTMAX;
#else
  // Without real-time signals, SIGURG: its default action is to be ignored,
  // so a stray one can never kill the process.
  return SIGURG;
#endif
}

}  // namespace

int wakeup_signal() noexcept {
  return chosen_signal.load();
}

bool set_wakeup_signal(int signo) noexcept {
  std::lock_guard lk(install_mutex);
  if (handler_installed.load()) return false;
  chosen_signal.store(signo);
  return true;
}

namespace detail::posix {
namespace {

int install_handler() noexcept {
  if (handler_installed.load(std::memory_order_acquire)) {
    return chosen_signal.load();
  }
  std::lock_guard lk(install_mutex);
  if (!handler_installed.load()) {
    if (chosen_signal.load() == 0) chosen_signal.store(pick_signal());
    struct sigaction sa {};
    sa.sa_handler = on_wakeup;
    sigemptyset(&sa.sa_mask);
    // No SA_RESTART: the whole point is that flock() returns EINTR.
    sa.sa_flags = 0;
    sigaction(chosen_signal.load(), &sa, nullptr);
    handler_installed.store(true, std::memory_order_release);
  }
  return chosen_signal.load();
}

// Removes a wake-up that was sent but not yet delivered, so that it cannot
// interrupt an unrelated system call of the caller after the wait.
void drain_pending(int signo) noexcept {
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  sigset_t pending;
  while (sigpending(&pending) == 0 && sigismember(&pending, signo)) {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__)
    struct timespec zero {};
    sigtimedwait(&only, nullptr, &zero);
#else
    int got = 0;
    sigwait(&only, &got);
#endif
  }
}

struct watchdog_state {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  bool stop_requested = false;
};

}  // namespace

platform::wait_status blocking_flock(int fd, int operation,
                                     const deadline& until,
                                     const std::stop_token& stop,
                                     std::error_code& ec) noexcept {
  using platform::wait_status;
  const bool bounded = until.has_value() || stop.stop_possible();
  if (!bounded) {
    // Nothing can end this wait but the grant (or an error), so stray
    // EINTRs from the caller's own signals just mean "wait again".
    if (sys::flock(fd, operation) == 0) return wait_status::acquired;
    ec.assign(errno, std::system_category());
    return wait_status::failed;
  }

  const int signo = install_handler();
  sigset_t only, saved;
  sigemptyset(&only);
  sigaddset(&only, signo);
  pthread_sigmask(SIG_UNBLOCK, &only, &saved);

  watchdog_state st;
  const pthread_t waiter = pthread_self();
  std::stop_callback on_stop(stop, [&st] {
    std::lock_guard lk(st.m);
    st.stop_requested = true;
    st.cv.notify_all();
  });

  // Without a watchdog nothing could end the wait on time, so a thread
  // that cannot be started (EAGAIN: out of threads) is reported as an error
  // rather than turned into an unbounded wait.
  std::thread watchdog;
  try {
    watchdog = std::thread([&st, &until, waiter, signo] {
      std::unique_lock lk(st.m);
      auto over = [&st] { return st.done || st.stop_requested; };
      if (until) {
        st.cv.wait_until(lk, *until, over);
      } else {
        st.cv.wait(lk, over);
      }
      // The waiter may not have entered flock() yet when the signal arrives,
      // in which case the signal is spent and flock() blocks anyway. So keep
      // signalling, backing off, until the waiter says it has returned.
      auto pause = std::chrono::microseconds(200);
      while (!st.done) {
        pthread_kill(waiter, signo);
        st.cv.wait_for(lk, pause, [&st] { return st.done; });
        pause = std::min(pause * 2, std::chrono::microseconds(50'000));
      }
    });
  } catch (const std::system_error& e) {
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    ec = e.code();
    return wait_status::failed;
  }

  wait_status result;
  for (;;) {
    if (sys::flock_once(fd, operation) == 0) {
      // Granted, even if the deadline passed meanwhile: the lock is ours.
      result = wait_status::acquired;
      break;
    }
    if (errno != EINTR) {
      ec.assign(errno, std::system_category());
      result = wait_status::failed;
      break;
    }
    if (stop.stop_requested()) {
      result = wait_status::cancelled;
      break;
    }
    if (until && steady_clock::now() >= *until) {
      result = wait_status::timed_out;
      break;
    }
    // Some other signal of the caller's interrupted the wait: wait again.
  }

  {
    std::lock_guard lk(st.m);
    st.done = true;
  }
  st.cv.notify_all();
  watchdog.join();

  pthread_sigmask(SIG_BLOCK, &only, nullptr);
  drain_pending(signo);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  return result;
}

}  // namespace detail::posix
}  // namespace filelock
