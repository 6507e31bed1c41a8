#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "wait_signals.hpp"

namespace filelock::cli {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr std::size_t kCount = sizeof kSignals / sizeof kSignals[0];

int g_signal_pipe = -1;

// A handler may only do async-signal-safe things: the byte goes to our
// thread, which makes the stop request.
extern "C" void on_wait_signal(int sig) {
  const unsigned char c = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe, &c, 1);
}

}  // namespace

struct wait_signals::state {
  int sig[2] = {-1, -1};
  int quit[2] = {-1, -1};
  sigset_t old_mask{};
  struct sigaction old_actions[kCount] {};
  bool caught[kCount]{};
  std::stop_source stop;
  std::atomic<int> signal{0};
  std::thread thread;
};

// The signals are blocked in the calling thread before the library starts
// its threads (the lease keeper, the watch), which inherit the mask: a
// signal can then only be taken by our own thread, which unblocks them.
wait_signals::wait_signals() : s_(std::make_unique<state>()) {
  state& s = *s_;
  if (::pipe(s.sig) != 0 || ::pipe(s.quit) != 0) return;
  for (int fd : {s.sig[0], s.sig[1], s.quit[0], s.quit[1]}) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  g_signal_pipe = s.sig[1];
  // A signal ignored on entry stays ignored (a script's background job
  // ignores SIGINT, nohup SIGHUP), as it does while we wait for a local
  // lock: whoever started us meant it not to end us.
  sigset_t set;
  sigemptyset(&set);
  for (std::size_t i = 0; i < kCount; ++i) {
    sigaction(kSignals[i], nullptr, &s.old_actions[i]);
    s.caught[i] = s.old_actions[i].sa_handler != SIG_IGN;
    if (s.caught[i]) sigaddset(&set, kSignals[i]);
  }
  pthread_sigmask(SIG_BLOCK, &set, &s.old_mask);
  struct sigaction sa {};
  sa.sa_handler = on_wait_signal;
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < kCount; ++i) {
    if (s.caught[i]) sigaction(kSignals[i], &sa, nullptr);
  }
  s.thread = std::thread([&s, set] {
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    pollfd p[2] = {{s.sig[0], POLLIN, 0}, {s.quit[0], POLLIN, 0}};
    for (;;) {
      if (::poll(p, 2, -1) < 0) continue;  // EINTR: our own handler ran
      if (p[1].revents) return;
      unsigned char c = 0;
      if (p[0].revents && ::read(s.sig[0], &c, 1) == 1) {
        s.signal = c;
        s.stop.request_stop();
        return;
      }
    }
  });
}

wait_signals::~wait_signals() {
  finish();
}

std::stop_token wait_signals::token() const {
  return s_->stop.get_token();
}

int wait_signals::signal() const {
  return s_->signal;
}

void wait_signals::finish() {
  state& s = *s_;
  if (!s.thread.joinable()) return;
  (void)!::write(s.quit[1], "q", 1);
  s.thread.join();
  for (std::size_t i = 0; i < kCount; ++i) {
    if (s.caught[i]) sigaction(kSignals[i], &s.old_actions[i], nullptr);
  }
  pthread_sigmask(SIG_SETMASK, &s.old_mask, nullptr);
  for (int fd : {s.sig[0], s.sig[1], s.quit[0], s.quit[1]}) ::close(fd);
  g_signal_pipe = -1;
}

void wait_signals::reraise() {
  finish();
  const int sig = s_->signal;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
  std::_Exit(128 + sig);
}

}  // namespace filelock::cli
