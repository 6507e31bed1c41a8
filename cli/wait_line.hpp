// The live line that says, on a terminal, what a waiting `run` or
// `acquire` waits for: the lock, who holds it, how long we have waited and
// how long we may still wait. It is presentation only: it never touches
// the lock, never writes to stdout, and shows nothing when stderr is not a
// terminal or with -q, so scripts see exactly what they saw without it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "common.hpp"
#include "filelock/lock.hpp"

namespace filelock::cli {

// What the line says, cut to `columns` terminal columns. `waited` and
// `left` are shown in whole seconds (left rounded up, so that "0s left"
// means the wait is ending); no `left` for a wait without a timeout.
std::string wait_line_text(const std::string& lock,
                           const std::optional<holder_info>& holder,
                           std::chrono::nanoseconds waited,
                           std::optional<std::chrono::nanoseconds> left,
                           std::size_t columns);

// Cuts UTF-8 text to at most `columns` columns, never inside a character.
// Every non-ASCII character counts as two columns: East Asian characters
// take two, and guessing high only makes the line shorter, never wrap.
std::string fit_columns(const std::string& text, std::size_t columns);

class wait_line {
 public:
  using holder_query = std::function<std::optional<holder_info>()>;

  struct settings {
    std::string lock;  // as the user wrote it
    holder_query who;  // called about once a second, on the line's thread
    deadline until;    // empty: no timeout
    // Erase the line and die on INT, TERM, HUP and QUIT (the default
    // action, as if we were not there). Off where the caller already
    // handles those signals (etcd) and ends the line itself.
    bool on_signal_erase = true;
  };

  // Starts the line's thread when stderr is a terminal and not quiet; the
  // first draw is a second later, so that a short wait shows nothing.
  wait_line(const lock_args& args, settings s);
  ~wait_line();
  wait_line(const wait_line&) = delete;
  wait_line& operator=(const wait_line&) = delete;

  // Erases the line and stops its thread. Called as soon as the wait ends,
  // before anything else is said.
  void stop();

 private:
  void loop();
  void draw_locked(const std::string& text);

  settings s_;
  steady_clock::time_point started_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool enabled_ = false;
  std::thread thread_;
};

// A holder_query that looks at the lock at path (see inspect()) and gives
// its first holder other than this process.
wait_line::holder_query first_holder_of(std::filesystem::path path,
                                        lock_kind hint);

// Writes one "filelock: ..." line (see say()), erasing a live wait line
// first and drawing it again below, so that -v messages said during a wait
// do not run into it.
void write_message_line(const std::string& line);

// The terminal side, in terminal_posix.cpp and terminal_win32.cpp.
namespace terminal {

// True when stderr is a terminal that understands "\r" and "\x1b[K".
bool stderr_is_terminal();
// Its width in columns; 80 when it cannot be told.
std::size_t stderr_columns();
// Starts a thread that blocks every signal from its first instruction on,
// so that each one reaches the thread that waits for the lock: SIGALRM
// bounds `acquire --fd`'s flock() and must interrupt that very call.
std::thread thread_without_signals(std::function<void()> body);
// While active, INT, TERM, HUP and QUIT that would end the process erase
// the line first; the process then ends by the signal as before. Signals
// that are ignored or handled stay as they are.
void erase_line_on_signal(bool active);
// Whether a line is on the screen, for the signal handler to know.
void set_line_shown(bool shown);

}  // namespace terminal
}  // namespace filelock::cli
