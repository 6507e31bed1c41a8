// Process identity for judging a soft lock's owner: liveness, start time
// (against PID reuse), boot id (against reboots), and random tokens.
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "platform.hpp"

namespace filelock::detail::platform {
namespace {

std::string read_small_file(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

#if defined(__linux__)
// The fields of /proc/PID/stat after the command name. The name is in
// parentheses and may itself contain ") ", so split at the last ')'.
bool stat_fields(std::int64_t pid, std::string& state, std::string& start) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  // Field 3 is the state; the start time is field 22, 19 fields later.
  rest >> state;
  std::string skip;
  for (int i = 4; i < 22 && rest >> skip; ++i) {
  }
  return static_cast<bool>(rest >> start);
}

// The boot time in seconds since the epoch: the "btime" line of
// /proc/stat; -1 where it cannot be read.
long long boot_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  long long btime = -1;
  while (in >> key) {
    if (key == "btime") {
      in >> btime;
      break;
    }
    in.ignore(1 << 20, '\n');
  }
  return btime;
}
#endif

}  // namespace

liveness process_liveness(std::int64_t pid) noexcept {
  if (pid <= 0 || pid != static_cast<pid_t>(pid)) return liveness::unknown;
  if (::kill(static_cast<pid_t>(pid), 0) != 0) {
    // EPERM: the process exists and belongs to someone else.
    return errno == ESRCH ? liveness::gone : liveness::alive;
  }
#if defined(__linux__)
  try {
    std::string state, start;
    // A zombie has exited and only waits to be reaped: it holds nothing.
    if (stat_fields(pid, state, start) && (state == "Z" || state == "X")) {
      return liveness::gone;
    }
  } catch (...) {
  }
#endif
  return liveness::alive;
}

std::string process_start(std::int64_t pid) {
#if defined(__linux__)
  std::string state, start;
  if (stat_fields(pid, state, start)) return start;
#else
  (void)pid;
#endif
  return {};
}

std::optional<std::chrono::system_clock::time_point> process_start_time(
    std::int64_t pid) {
#if defined(__linux__)
  const auto ticks = process_start(pid);
  if (ticks.empty()) return {};
  const auto btime = boot_seconds();
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (btime < 0 || hz <= 0) return {};
  const auto ms = std::stoll(ticks) * 1000 / hz;
  return std::chrono::system_clock::time_point(std::chrono::seconds(btime) +
                                               std::chrono::milliseconds(ms));
#else
  (void)pid;
  return {};
#endif
}

std::optional<std::chrono::system_clock::time_point> boot_time() noexcept try {
#if defined(__linux__)
  const auto btime = boot_seconds();
  if (btime < 0) return {};
  return std::chrono::system_clock::time_point(std::chrono::seconds(btime));
#else
  return {};
#endif
} catch (...) {
  return {};
}

std::string boot_id() {
#if defined(__linux__)
  return read_small_file("/proc/sys/kernel/random/boot_id");
#else
  return {};
#endif
}

std::string new_token() {
#if defined(__linux__)
  auto uuid = read_small_file("/proc/sys/kernel/random/uuid");
  if (uuid.size() == 36) return uuid;
  // /proc not mounted (a chroot, a container): 16 random bytes, laid out
  // as a version 4 UUID.
  unsigned char b[16] = {};
  std::size_t got = 0;
  while (got < sizeof b) {
    auto n = ::getrandom(b + got, sizeof b - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  if (got < sizeof b) return {};
#else
  unsigned char b[16] = {};
  arc4random_buf(b, sizeof b);
#endif
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                "%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace filelock::detail::platform
