#include "wait_line.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "filelock/inspect.hpp"
#include "process.hpp"

namespace filelock::cli {
namespace {

using namespace std::chrono_literals;

// One wait line at a time; the mutex also orders its draws with the
// messages that say() writes meanwhile.
std::mutex g_mutex;
std::string g_text;  // what is on the screen now, empty for nothing

void put(const std::string& bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stderr);
  std::fflush(stderr);
}

std::string seconds_text(std::chrono::seconds s) {
  const auto n = s.count();
  if (n < 60) return std::to_string(n) + "s";
  const auto two = [](long long v) {
    return (v < 10 ? "0" : "") + std::to_string(v);
  };
  if (n < 3600) return std::to_string(n / 60) + "m" + two(n % 60) + "s";
  return std::to_string(n / 3600) + "h" + two(n / 60 % 60) + "m";
}

std::string clock_text(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  // localtime's buffer is shared, but in filelock only this thread asks
  // for local time while a wait line runs.
  const std::tm* tm = std::localtime(&t);
  if (tm == nullptr) return {};
  const bool long_ago = std::chrono::system_clock::now() - when > 20h;
  char buf[32];
  const auto n = std::strftime(buf, sizeof buf,
                               long_ago ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", tm);
  return std::string(buf, n);
}

std::size_t columns_of(const std::string& text) {
  std::size_t used = 0;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0) != 0x80) used += c < 0x80 ? 1 : 2;
  }
  return used;
}

}  // namespace

std::string fit_columns(const std::string& text, std::size_t columns) {
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // continues the character before
    const std::size_t width = c < 0x80 ? 1 : 2;
    if (used + width > columns) return text.substr(0, i);
    used += width;
  }
  return text;
}

std::string wait_line_text(const std::string& lock,
                           const std::optional<holder_info>& holder,
                           std::chrono::nanoseconds waited,
                           std::optional<std::chrono::nanoseconds> left,
                           std::size_t columns) {
  const std::string head = "filelock: waiting for " + lock;
  // U+00B7 MIDDLE DOT between the parts.
  std::string tail =
      " \u00b7 " +
      seconds_text(std::chrono::floor<std::chrono::seconds>(waited)) +
      " waited";
  if (left) {
    const auto rest = std::chrono::ceil<std::chrono::seconds>(
        std::max(*left, std::chrono::nanoseconds::zero()));
    tail += " \u00b7 " + seconds_text(rest) + " left";
  }
  if (!holder || holder->pid <= 0) return fit_columns(head + tail, columns);

  std::string since;
  if (holder->since) {
    const auto at = clock_text(*holder->since);
    if (!at.empty()) since = " since " + at;
  }
  const std::string pid = ", held by pid " + std::to_string(holder->pid);
  std::string line = head + ", held by " + describe_holder(*holder) + since;
  if (columns_of(line + tail) <= columns || holder->command.empty()) {
    return fit_columns(line + tail, columns);
  }
  // Too wide: the holder's command gives way first, so that the times at
  // the end stay in sight.
  const std::size_t fixed = columns_of(head + pid + " (\u2026)" + since + tail);
  if (fixed + 8 > columns)
    return fit_columns(head + pid + since + tail, columns);
  const auto command = describe_holder(*holder);  // control chars blanked
  const auto open = command.find(" (");
  const auto text = command.substr(open + 2, command.size() - open - 3);
  return head + pid + " (" + fit_columns(text, columns - fixed) + "\u2026)" +
         since + tail;
}

wait_line::holder_query first_holder_of(std::filesystem::path path,
                                        lock_kind hint) {
  return [path = std::move(path), hint]() -> std::optional<holder_info> {
    const auto me = current_pid();
    for (auto& h : inspect(path, hint).holders) {
      if (h.pid != me) return std::move(h);
    }
    return std::nullopt;
  };
}

void write_message_line(const std::string& line) {
  std::lock_guard lock(g_mutex);
  if (g_text.empty()) return put(line);
  put("\r\x1b[K" + line + "\r" + g_text + "\x1b[K");
}

wait_line::wait_line(const lock_args& args, settings s)
    : s_(std::move(s)), started_(steady_clock::now()) {
  enabled_ = !args.quiet && terminal::stderr_is_terminal();
  if (!enabled_) return;
  if (s_.on_signal_erase) terminal::erase_line_on_signal(true);
  thread_ = terminal::thread_without_signals([this] { loop(); });
}

wait_line::~wait_line() {
  stop();
}

void wait_line::stop() {
  if (!enabled_) return;
  enabled_ = false;
  {
    std::lock_guard lock(g_mutex);
    stopping_ = true;
    if (!g_text.empty()) {
      terminal::set_line_shown(false);
      g_text.clear();
      put("\r\x1b[K");
    }
  }
  wake_.notify_all();
  // The thread may be inside who() (reading /proc/locks or a marker, a
  // millisecond); it draws nothing more once stopping_ is set.
  thread_.join();
  if (s_.on_signal_erase) terminal::erase_line_on_signal(false);
}

void wait_line::draw_locked(const std::string& text) {
  // Marked shown before it is written: a signal between the two erases a
  // line that is not there yet, which costs nothing.
  terminal::set_line_shown(true);
  g_text = text;
  put("\r" + text + "\x1b[K");
}

void wait_line::loop() {
  std::optional<holder_info> holder;
  auto next = started_ + 1s;
  std::unique_lock lock(g_mutex);
  for (;;) {
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;

    // Asked without the mutex, so that stop() never waits for it to erase.
    lock.unlock();
    if (s_.who) {
      try {
        holder = s_.who();
      } catch (...) {
        // A holder that cannot be read now is shown as last seen.
      }
    }
    lock.lock();
    if (stopping_) return;

    const auto now = steady_clock::now();
    std::optional<std::chrono::nanoseconds> left;
    if (s_.until) left = *s_.until - now;
    // One column short of the width: writing the last column leaves some
    // terminals about to wrap, and the next "\r" would then be a line late.
    const auto columns = terminal::stderr_columns();
    draw_locked(wait_line_text(s_.lock, holder, now - started_, left,
                               columns > 1 ? columns - 1 : 1));
    // On the second, so that the count goes up by one each time.
    while (next <= now) next += 1s;
  }
}

}  // namespace filelock::cli
