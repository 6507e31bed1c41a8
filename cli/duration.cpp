#include "duration.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

namespace filelock::cli {
namespace {

struct unit {
  std::string_view suffix;
  double seconds;
};

// Longest suffixes first so that "ms" is not read as "m" followed by junk.
constexpr unit kUnits[] = {{"ns", 1e-9},  {"us", 1e-6}, {"ms", 1e-3},
                           {"s", 1.0},    {"m", 60.0},  {"h", 3600.0},
                           {"d", 86400.0}};

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text,
                                                       std::string& why) {
  const std::string quoted = "'" + std::string(text) + "'";
  if (text.empty()) {
    why = "empty duration";
    return std::nullopt;
  }
  if (text.front() == '-') {
    why = "negative duration " + quoted;
    return std::nullopt;
  }

  double value = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, err] = std::from_chars(first, last, value);
  if (err == std::errc::result_out_of_range) {
    why = "duration " + quoted + " is too large";
    return std::nullopt;
  }
  if (err != std::errc() || !std::isfinite(value)) {
    why = "invalid duration " + quoted +
          " (expected a number of seconds, or a number with ms, s, m or h)";
    return std::nullopt;
  }

  double scale = 1.0;
  std::string_view rest(end, static_cast<std::size_t>(last - end));
  if (!rest.empty()) {
    bool known = false;
    for (const auto& u : kUnits) {
      if (rest == u.suffix) {
        scale = u.seconds;
        known = true;
        break;
      }
    }
    if (!known) {
      why = "invalid duration " + quoted + " (unknown unit '" +
            std::string(rest) + "'; use ns, us, ms, s, m, h or d)";
      return std::nullopt;
    }
  }

  const double seconds = value * scale;
  if (seconds > static_cast<double>(kMaxDuration.count())) {
    why = "duration " + quoted + " is too large (at most " +
          std::to_string(kMaxDuration.count()) + "s)";
    return std::nullopt;
  }
  // Round up: a positive duration never becomes zero (one try) by rounding.
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>(std::ceil(seconds * 1e9)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  char buf[64];
  const double s = duration<double>(d).count();
  if (s < 1.0) {
    std::snprintf(buf, sizeof buf, "%.0fms", s * 1000.0);
  } else if (s < 120.0) {
    std::snprintf(buf, sizeof buf, "%.3gs", s);
  } else {
    const auto total = duration_cast<seconds>(d).count();
    std::snprintf(buf, sizeof buf, "%lldm %llds",
                  static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  }
  return buf;
}

std::string flock_seconds(std::chrono::nanoseconds d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d);
  std::string frac = std::to_string(us.count() % 1'000'000);
  frac.insert(0, 6 - frac.size(), '0');
  return std::to_string(us.count() / 1'000'000) + "." + frac;
}

}  // namespace filelock::cli
