// The owner record a soft marker holds, and the formats of it we read:
// our own JSON (see inspect.hpp for an example) and the owner lines that
// Python filelock writes ("PID\nHOST\n" and an optional third line).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "filelock/lock.hpp"

namespace filelock::detail {

// Markers larger than this are not read at all: a record is a few hundred
// bytes, and a reader must not be made to slurp a huge file.
inline constexpr std::size_t kMaxRecordSize = std::size_t{64} * 1024;

inline constexpr int kRecordVersion = 1;

using wall_time = std::chrono::system_clock::time_point;

struct owner_record {
  enum class format { filelock, python };
  format origin = format::filelock;
  std::int64_t pid = 0;
  // The owner's start time in the kernel's units (Linux: clock ticks since
  // boot); empty where unknown. Compared only for equality.
  std::string start;
  std::string boot_id;
  std::string host;
  std::optional<wall_time> since;
  std::optional<std::chrono::milliseconds> lifetime;
  std::string token;
  lock_mode mode = lock_mode::exclusive;
  std::string command;
  // A process that keeps the lock held after the owner is gone, for as
  // long as it lives (filelock run's guardian, which outlives a killed
  // filelock just long enough to stop the command). 0 for none.
  std::int64_t keeper_pid = 0;
  std::string keeper_start;
};

// Whether text can be a token: it names helper files in the lock's
// directory (claims), so a hostile marker must not be able to steer them
// elsewhere with "/" or "..".
bool is_token(std::string_view text) noexcept;

// One or more ASCII digits and nothing else.
bool all_digits(std::string_view text) noexcept;

// One JSON object on one line, newline-terminated.
std::string to_json(const owner_record& r);

struct parse_result {
  std::optional<owner_record> record;
  // Why the text is not a record, for status ("empty marker", ...).
  std::string error;
};

// Strict: the whole text must be one record in one of the two formats,
// with every required field present and of the right type. Text longer
// than kMaxRecordSize is refused unread.
parse_result parse_record(std::string_view text);

// RFC 3339 in UTC with milliseconds, e.g. "2026-12-03T19:05:04.123Z".
std::string format_time(wall_time t);
// Accepts what format_time writes, with or without the fraction (any
// number of digits) and with "Z" or a numeric offset "+hh:mm".
std::optional<wall_time> parse_time(std::string_view text);

holder_info to_holder(const owner_record& r);

}  // namespace filelock::detail
