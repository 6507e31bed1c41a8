// The text of the live wait line (cli/wait_line.cpp): what it says, and
// that it never grows past the terminal's width.
#include <doctest/doctest.h>

#include "wait_line.hpp"

using namespace std::chrono_literals;
using filelock::holder_info;
using filelock::cli::fit_columns;
using filelock::cli::wait_line_text;

namespace {

holder_info rsync() {
  holder_info h;
  h.pid = 4242;
  h.command = "rsync -a /data/ /backup/";
  return h;
}

// Columns as the line counts them: non-ASCII characters count two.
std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c & 0xC0) != 0x80) n += c < 0x80 ? 1 : 2;
  }
  return n;
}

}  // namespace

TEST_CASE("wait line: lock, holder, time waited and time left") {
  CHECK(
      wait_line_text("/var/lock/backup.lock", rsync(), 7400ms, 52600ms, 200) ==
      "filelock: waiting for /var/lock/backup.lock, held by pid 4242 "
      "(rsync -a /data/ /backup/) \u00b7 7s waited \u00b7 53s left");
}

TEST_CASE("wait line: no holder known, no timeout") {
  CHECK(wait_line_text("/x.lock", std::nullopt, 65s, std::nullopt, 200) ==
        "filelock: waiting for /x.lock \u00b7 1m05s waited");
}

TEST_CASE("wait line: the time left never goes below zero") {
  CHECK(wait_line_text("/x.lock", std::nullopt, 3s, -2s, 200) ==
        "filelock: waiting for /x.lock \u00b7 3s waited \u00b7 0s left");
}

TEST_CASE("wait line: says since when the holder holds") {
  auto h = rsync();
  h.since = std::chrono::system_clock::now() - 1h;
  const auto text = wait_line_text("/x.lock", h, 1s, std::nullopt, 200);
  CHECK(text.find(") since ") != std::string::npos);
  CHECK(text.find(" \u00b7 1s waited") != std::string::npos);
}

TEST_CASE("wait line: a long command gives way to the times") {
  auto h = rsync();
  h.command = "sh -c " + std::string(300, 'x');
  const auto text = wait_line_text("/x.lock", h, 7s, 53s, 100);
  CHECK(columns(text) <= 100);
  CHECK(
      text.starts_with("filelock: waiting for /x.lock, held by pid 4242 "
                       "(sh -c xxx"));
  CHECK(text.ends_with("\u2026) \u00b7 7s waited \u00b7 53s left"));
}

TEST_CASE("wait line: control characters in the command are blanked") {
  auto h = rsync();
  h.command = "sh -c 'a\nb'";
  CHECK(wait_line_text("/x.lock", h, 0s, std::nullopt, 200).find('\n') ==
        std::string::npos);
}

TEST_CASE("wait line: with no room for any of the command, it is left out") {
  auto h = rsync();
  h.command = "sh -c " + std::string(300, 'x');
  CHECK(wait_line_text("/x.lock", h, 7s, 53s, 80) ==
        "filelock: waiting for /x.lock, held by pid 4242 \u00b7 7s waited "
        "\u00b7 53s left");
}

TEST_CASE("wait line: a terminal too narrow for anything gets the start") {
  const auto text = wait_line_text("/x.lock", rsync(), 7s, 53s, 20);
  CHECK(text == "filelock: waiting fo");
}

TEST_CASE("fit_columns: never cuts inside a character") {
  CHECK(fit_columns("ab\u00b7cd", 3) == "ab");
  CHECK(fit_columns("ab\u00b7cd", 4) == "ab\u00b7");
  CHECK(fit_columns("abc", 10) == "abc");
  CHECK(fit_columns("abc", 0).empty());
}
