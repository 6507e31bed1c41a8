// Waking a soft waiter when the marker goes away: inotify on Linux, a
// plain sleep elsewhere. Either way the sleep ends early on a stop request:
// the stop callback writes to an eventfd (a pipe where there is none) that
// the wait polls together with the inotify descriptor.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#endif

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "platform.hpp"

namespace filelock::detail::platform {
namespace {

#if defined(__linux__)
// Closing an inotify instance waits for an SRCU grace period in the kernel
// (the group's teardown calls synchronize_srcu): 10-15 ms measured here,
// between a soft waiter's grant and its return, which was most of the
// soft lock's handoff time (bench/). So instances are kept for reuse: a
// finished watch only removes its watch, which does not wait, and the next
// watch of the process takes the instance. After fork() the instance would
// be shared with the parent, whose events the child would take from it, so
// a child closes what it inherited instead (its close drops a reference
// only: the parent's keeps the group alive, and nothing waits).
class notify_pool {
 public:
  static int take() noexcept {
    auto& p = instance();
    std::lock_guard lk(p.mutex_);
    p.forget_inherited();
    if (p.fds_.empty()) return ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    const int fd = p.fds_.back();
    p.fds_.pop_back();
    return fd;
  }

  static void give(int fd, int watch) noexcept {
    if (watch >= 0) ::inotify_rm_watch(fd, watch);
    auto& p = instance();
    std::lock_guard lk(p.mutex_);
    p.forget_inherited();
    if (p.fds_.size() >= kKept) {
      ::close(fd);
      return;
    }
    try {
      p.fds_.push_back(fd);
    } catch (...) {
      ::close(fd);
    }
  }

 private:
  static constexpr std::size_t kKept = 4;

  // Never destroyed (a waiter may finish during exit, after static
  // destructors ran), and built in place, so that nothing here can throw.
  static notify_pool& instance() noexcept {
    alignas(notify_pool) static unsigned char storage[sizeof(notify_pool)];
    static notify_pool* p = new (storage) notify_pool;
    return *p;
  }

  void forget_inherited() noexcept {
    if (pid_ == ::getpid()) return;
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    pid_ = ::getpid();
  }

  std::mutex mutex_;
  std::vector<int> fds_;
  pid_t pid_ = ::getpid();
};
#endif

}  // namespace

struct dir_watch::impl {
  int notify_fd = -1;
  int watch = -1;  // the watch descriptor on notify_fd
  int process_fd = -1;
  std::int64_t process = 0;
  // [0] is polled; [1] is written by the stop callback (the same
  // descriptor for an eventfd).
  int wake[2] = {-1, -1};
  std::string name;

  ~impl() {
#if defined(__linux__)
    if (notify_fd >= 0) notify_pool::give(notify_fd, watch);
#endif
    if (process_fd >= 0) ::close(process_fd);
    if (wake[0] >= 0) ::close(wake[0]);
    if (wake[1] >= 0 && wake[1] != wake[0]) ::close(wake[1]);
  }

  bool make_wake_channel() noexcept {
#if defined(__linux__)
    wake[0] = wake[1] = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return wake[0] >= 0;
#else
    if (::pipe(wake) != 0) return false;
    for (int fd : wake) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    return true;
#endif
  }

  // Reads every queued event; true when one concerns our name (or the
  // queue overflowed, so that one may have been lost).
  bool drain() noexcept {
#if defined(__linux__)
    alignas(inotify_event) char buf[4096];
    bool hit = false;
    for (;;) {
      auto n = ::read(notify_fd, buf, sizeof buf);
      if (n <= 0) return hit;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        // Events of an earlier watch on a reused instance are not ours.
        if ((ev->mask & IN_Q_OVERFLOW) ||
            (ev->wd == watch && ev->len > 0 && name == ev->name)) {
          hit = true;
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
#else
    return false;
#endif
  }
};

dir_watch::dir_watch() noexcept = default;
dir_watch::~dir_watch() = default;

bool dir_watch::start(const std::filesystem::path& dir,
                      std::string name) noexcept try {
  impl_ = std::make_unique<impl>();
  impl_->name = std::move(name);
  if (!impl_->make_wake_channel()) {
    impl_->wake[0] = impl_->wake[1] = -1;
  }
#if defined(__linux__)
  // A removal on another NFS/SMB client, or by a FUSE server, sends no
  // local event: there only polling sees it.
  if (is_network_filesystem(dir)) return false;
  impl_->notify_fd = notify_pool::take();
  if (impl_->notify_fd < 0) return false;
  // IN_MOVED_FROM: a breaker or a tool renaming the marker away.
  // IN_ATTRIB: a lease refresh or a last link gone (nlink drops).
  const auto mask = IN_DELETE | IN_MOVED_FROM | IN_ATTRIB | IN_DELETE_SELF |
                    IN_MOVE_SELF | IN_ONLYDIR;
  impl_->watch = ::inotify_add_watch(impl_->notify_fd, dir.c_str(), mask);
  if (impl_->watch < 0) {
    notify_pool::give(impl_->notify_fd, -1);
    impl_->notify_fd = -1;
    return false;
  }
  // Left over from the instance's last watch: drained now, so that a full
  // queue of them does not read as an overflow later.
  impl_->drain();
  return true;
#else
  (void)dir;
  return false;
#endif
} catch (const std::bad_alloc&) {
  return false;
}

bool dir_watch::notifying() const noexcept {
  return impl_ && impl_->notify_fd >= 0;
}

void dir_watch::watch_process(std::int64_t pid) noexcept {
  if (!impl_ || pid == impl_->process) return;
  if (impl_->process_fd >= 0) ::close(impl_->process_fd);
  impl_->process_fd = -1;
  impl_->process = pid;
#if defined(__linux__) && defined(SYS_pidfd_open)
  // ENOSYS on older kernels, ESRCH if it is already gone: the caller's
  // next look sees that anyway. Close-on-exec is implied for pidfds.
  if (pid > 0 && pid == static_cast<pid_t>(pid)) {
    impl_->process_fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  }
#endif
}

bool dir_watch::watching_process() const noexcept {
  return impl_ && impl_->process_fd >= 0;
}

dir_watch::woken dir_watch::wait(std::chrono::milliseconds timeout,
                                 const std::stop_token& stop) noexcept {
  if (stop.stop_requested()) return woken::stopped;
  const int wake_w = impl_ ? impl_->wake[1] : -1;
  std::stop_callback on_stop(stop, [wake_w] {
    if (wake_w < 0) return;
    const std::uint64_t one = 1;
    // Nothing to do if it fails: the counter is already non-zero.
    [[maybe_unused]] auto n = ::write(wake_w, &one, sizeof one);
  });

  // [0]: inotify (or unused), [1]: the stop channel, [2]: the process.
  pollfd fds[3] = {{-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}};
  if (notifying()) fds[0] = {impl_->notify_fd, POLLIN, 0};
  if (impl_ && impl_->wake[0] >= 0) fds[1] = {impl_->wake[0], POLLIN, 0};
  if (impl_ && impl_->process_fd >= 0) fds[2] = {impl_->process_fd, POLLIN, 0};

  const auto until = steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        until - steady_clock::now());
    const int ms =
        static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, INT_MAX));
    const int r = ::poll(fds, 3, ms);
    if (stop.stop_requested()) return woken::stopped;
    if (r < 0 && errno != EINTR) {
      // Cannot wait on the descriptors: degrade to a plain sleep.
      ::usleep(static_cast<useconds_t>(std::min(ms, 1000)) * 1000);
      return woken::timeout;
    }
    if (r > 0 && notifying() && (fds[0].revents & POLLIN) && impl_->drain()) {
      return woken::changed;
    }
    if (r > 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      // Exited: stop watching it, or every later wait would end at once.
      ::close(impl_->process_fd);
      impl_->process_fd = -1;
      return woken::changed;
    }
    if (steady_clock::now() >= until) return woken::timeout;
  }
}

}  // namespace filelock::detail::platform
