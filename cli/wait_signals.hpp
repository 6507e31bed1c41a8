// The signals that would end filelock while it waits for an etcd lock,
// turned into a stop request instead: the library then withdraws the
// waiter's key (revokes its lease) rather than leaving it queued, blocking
// everyone behind it, until the lease runs out. Afterwards reraise() ends
// filelock the way the signal would have. POSIX: SIGINT, SIGTERM, SIGHUP
// and SIGQUIT (wait_signals_posix.cpp). Windows: Ctrl-C, Ctrl-Break and
// the console closing, logging off or shutting down (wait_signals_win32.cpp).
#pragma once

#include <memory>
#include <stop_token>

namespace filelock::cli {

class wait_signals {
 public:
  wait_signals();
  ~wait_signals();
  wait_signals(const wait_signals&) = delete;
  wait_signals& operator=(const wait_signals&) = delete;

  // Stopped when one of the signals arrives.
  std::stop_token token() const;
  // The signal that arrived (a POSIX number; on Windows SIGINT for Ctrl-C,
  // SIGBREAK for Ctrl-Break, SIGTERM for the others), 0 while none has.
  int signal() const;
  // Stops taking the signals: from here on they do what they did before.
  // Call it once the waiter's key is withdrawn.
  void finish();
  // finish(), then end the process as the signal that arrived would have.
  [[noreturn]] void reraise();

  struct state;

 private:
  std::unique_ptr<state> s_;
};

}  // namespace filelock::cli
