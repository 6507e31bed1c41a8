#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "wait_line.hpp"

namespace filelock::cli::terminal {
namespace {

constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr std::size_t kCount = sizeof kStopSignals / sizeof kStopSignals[0];

// Read by the signal handler: a lock-free atomic is safe to touch there.
std::atomic<bool> g_shown{false};
struct sigaction g_previous[kCount] {};
bool g_installed[kCount]{};

extern "C" void erase_and_die(int sig) {
  if (g_shown.exchange(false)) {
    static const char erase[] = "\r\x1b[K";
    (void)!::write(STDERR_FILENO, erase, sizeof erase - 1);
  }
  // Back to the default action, which was in force before us; the signal
  // stays blocked until the handler returns and then ends the process, so
  // that the parent sees the same death as without the line.
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

bool stderr_is_terminal() {
  if (::isatty(STDERR_FILENO) != 1) return false;
  // A dumb terminal would print the escape sequence as text.
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

std::size_t stderr_columns() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return 80;
}

std::thread thread_without_signals(std::function<void()> body) {
  // A new thread starts with its creator's mask; blocking inside the thread
  // would leave a moment in which a signal could land there.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::move(body));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

void erase_line_on_signal(bool active) {
  for (std::size_t i = 0; i < kCount; ++i) {
    const int sig = kStopSignals[i];
    if (active && !g_installed[i]) {
      // Only signals that would kill us anyway: an ignored SIGINT (a
      // background job of a script) must stay ignored, and a handler that
      // is there has its reasons.
      struct sigaction old {};
      if (::sigaction(sig, nullptr, &old) != 0) continue;
      if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) {
        continue;
      }
      struct sigaction sa {};
      sa.sa_handler = erase_and_die;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      if (::sigaction(sig, &sa, &g_previous[i]) == 0) g_installed[i] = true;
    } else if (!active && g_installed[i]) {
      ::sigaction(sig, &g_previous[i], nullptr);
      g_installed[i] = false;
    }
  }
}

void set_line_shown(bool shown) {
  g_shown.store(shown);
}

}  // namespace filelock::cli::terminal
