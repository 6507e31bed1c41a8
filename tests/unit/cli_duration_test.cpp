// Durations and exit-status mapping of the program (cli/).
#include <doctest/doctest.h>

#include <cerrno>

#include "common.hpp"
#include "duration.hpp"

using namespace std::chrono_literals;
using filelock::cli::code_for;
using filelock::cli::exit_code;
using filelock::cli::parse_duration;

namespace {

std::string reason_for(std::string_view text) {
  std::string why;
  CHECK_FALSE(parse_duration(text, why).has_value());
  return why;
}

}  // namespace

TEST_CASE("durations: seconds, fractions, exponents and units") {
  std::string why;
  CHECK(parse_duration("0", why) == 0ns);
  CHECK(parse_duration("1.5", why) == 1500ms);
  CHECK(parse_duration("500ms", why) == 500ms);
  CHECK(parse_duration("2m", why) == 120s);
  CHECK(parse_duration("1h", why) == 3600s);
  CHECK(parse_duration("1d", why) == 86400s);
  CHECK(parse_duration("250us", why) == 250us);
  CHECK(parse_duration("1e-3", why) == 1ms);
}

TEST_CASE("durations: a tiny positive value never rounds down to one try") {
  std::string why;
  CHECK(parse_duration("1e-12", why) == 1ns);
}

TEST_CASE("durations: junk, negative, non-finite and huge values are refused") {
  CHECK(reason_for("") == "empty duration");
  CHECK(reason_for("-3") == "negative duration '-3'");
  CHECK(reason_for("-0.5") == "negative duration '-0.5'");
  CHECK(reason_for("abc").rfind("invalid duration 'abc'", 0) == 0);
  CHECK(reason_for("nan").rfind("invalid duration 'nan'", 0) == 0);
  CHECK(reason_for("inf").rfind("invalid duration 'inf'", 0) == 0);
  CHECK(reason_for("1e999") == "duration '1e999' is too large");
  CHECK(reason_for("1e10").rfind("duration '1e10' is too large", 0) == 0);
  CHECK(reason_for("5 s").rfind("invalid duration '5 s'", 0) == 0);
  CHECK(reason_for("5sec").rfind("invalid duration '5sec' (unknown unit", 0) ==
        0);
  CHECK(reason_for(" 5").rfind("invalid duration", 0) == 0);
}

TEST_CASE("exit statuses: each OS reason maps to its documented code") {
  auto sys = [](int e) { return std::error_code(e, std::system_category()); };
  CHECK(code_for("open", sys(ENOENT)) == exit_code::cannot_open);
  CHECK(code_for("create", sys(ENOENT)) == exit_code::cannot_open);
  CHECK(code_for("lock", sys(EISDIR)) == exit_code::cannot_open);
  CHECK(code_for("open", sys(ENAMETOOLONG)) == exit_code::cannot_open);
  CHECK(code_for("create", sys(EROFS)) == exit_code::cannot_create);
  CHECK(code_for("create", sys(ENOSPC)) == exit_code::cannot_create);
  CHECK(code_for("write", sys(ENOSPC)) == exit_code::io_error);
  CHECK(code_for("open", sys(EACCES)) == exit_code::no_permission);
  CHECK(code_for("lock", sys(ENOLCK)) == exit_code::io_error);
  CHECK(code_for("lock", sys(EIO)) == exit_code::io_error);
  CHECK(code_for("lock",
                 filelock::make_error_code(filelock::errc::symlink_refused)) ==
        exit_code::cannot_open);
  CHECK(code_for("lock",
                 filelock::make_error_code(filelock::errc::would_deadlock)) ==
        exit_code::busy);
  CHECK(code_for("lock", filelock::make_error_code(
                             filelock::errc::exclusive_needs_write_access)) ==
        exit_code::no_permission);
}
