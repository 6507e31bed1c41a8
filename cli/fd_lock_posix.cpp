#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "fd_lock.hpp"

namespace filelock::cli {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

void on_alarm(int) {}

// Bounds a blocking flock() with SIGALRM, which makes it fail with EINTR.
// The timer fires first at the deadline and then every 10 ms: a signal that
// lands after the deadline check but before flock() is entered would
// otherwise be lost and the wait would never end; the repeat bounds that
// overshoot. SIGALRM is unblocked for the wait, since a caller that runs us
// with it blocked (util-linux flock(1)'s timeout then never fires) must not
// turn -w into "wait forever". The only other thread here is the wait
// line's, which blocks every signal, so the process-wide handler and timer
// are ours to borrow and SIGALRM lands on this thread.
class alarm_timer {
 public:
  explicit alarm_timer(std::chrono::nanoseconds first) {
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: flock() must return EINTR
    ::sigaction(SIGALRM, &sa, &old_action_);

    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    ::sigprocmask(SIG_UNBLOCK, &alrm, &old_mask_);

    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(first).count();
    itimerval t{};
    t.it_value.tv_sec = static_cast<time_t>(us / 1'000'000);
    // A zero it_value disarms the timer; wait at least a microsecond.
    t.it_value.tv_usec =
        static_cast<suseconds_t>(us % 1'000'000) + (us == 0 ? 1 : 0);
    t.it_interval.tv_usec = 10'000;
    ::setitimer(ITIMER_REAL, &t, nullptr);
  }

  ~alarm_timer() {
    itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGALRM, &old_action_, nullptr);
  }

  alarm_timer(const alarm_timer&) = delete;
  alarm_timer& operator=(const alarm_timer&) = delete;

 private:
  struct sigaction old_action_ {};
  sigset_t old_mask_{};
};

// The error of a failed flock(): on NFS, Linux makes flock() a byte-range
// lock, and an exclusive one fails with EBADF on a descriptor the shell
// opened for reading only (exec 9<FILE; C12). Say that, as the core does
// for a path, rather than "Bad file descriptor".
std::error_code lock_error(int fd, int op, int err) {
  if (err == EBADF && (op & LOCK_EX) != 0) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
      return make_error_code(errc::exclusive_needs_write_access);
    }
  }
  return {err, std::system_category()};
}

// flock() with EINTR retried: 0, or the errno of the failure.
int flock_retrying(int fd, int op) {
  while (::flock(fd, op) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

}  // namespace

fd_lock_status lock_descriptor(int fd, lock_mode mode,
                               std::optional<std::chrono::nanoseconds> wait,
                               std::error_code& ec) {
  const int op = mode == lock_mode::shared ? LOCK_SH : LOCK_EX;

  // One attempt first, so that -n never blocks and a free lock costs no
  // timer.
  const int first = flock_retrying(fd, op | LOCK_NB);
  if (first == 0) return fd_lock_status::acquired;
  if (first != EWOULDBLOCK) {
    ec = lock_error(fd, op, first);
    return fd_lock_status::failed;
  }
  if (wait && wait->count() == 0) return fd_lock_status::busy;

  if (!wait) {
    const int err = flock_retrying(fd, op);
    if (err == 0) return fd_lock_status::acquired;
    ec.assign(err, std::system_category());
    return fd_lock_status::failed;
  }

  const auto until = std::chrono::steady_clock::now() + *wait;
  alarm_timer timer(*wait);
  for (;;) {
    if (::flock(fd, op) == 0) return fd_lock_status::acquired;
    if (errno != EINTR) {
      ec = last_error();
      return fd_lock_status::failed;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return fd_lock_status::timed_out;
    }
  }
}

void unlock_descriptor(int fd, std::error_code& ec) {
  const int err = flock_retrying(fd, LOCK_UN);
  if (err != 0) ec.assign(err, std::system_category());
}

std::string descriptor_path(int fd) {
#if defined(__linux__)
  char buf[4096];
  const auto link = "/proc/self/fd/" + std::to_string(fd);
  const auto n = ::readlink(link.c_str(), buf, sizeof buf);
  if (n > 0 && static_cast<std::size_t>(n) < sizeof buf) {
    return std::string(buf, static_cast<std::size_t>(n));
  }
#else
  (void)fd;
#endif
  return {};
}

}  // namespace filelock::cli
