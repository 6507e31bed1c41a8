// Durations on the command line: "1.5" (seconds), "500ms", "2m", "1h".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace filelock::cli {

// The largest duration accepted, so that now + duration never overflows
// the steady clock. About 31 years.
inline constexpr std::chrono::seconds kMaxDuration{1'000'000'000};

// Parses a non-negative, finite duration: a decimal number (fraction and
// exponent allowed) and an optional unit, one of ns, us, ms, s, m, h, d
// (seconds when there is none). On failure returns nothing and sets why to
// a reason that names the value.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text,
                                                       std::string& why);

// "1.5s", "250ms", "2m 5s": for messages.
std::string format_duration(std::chrono::nanoseconds d);

// "1.000123": seconds with six decimals, as flock(1) --verbose says how
// long locking took.
std::string flock_seconds(std::chrono::nanoseconds d);

}  // namespace filelock::cli
