// The JSON that status, break-stale, acquire and release print: field by
// field for each kind of lock, times in RFC 3339, paths that are not UTF-8,
// and the exit status rule for several locks.
#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "json_output.hpp"
#include "status.hpp"

using filelock::holder_info;
using filelock::lock_kind;
using filelock::lock_mode;
using filelock::lock_report;
using filelock::lock_state;
using namespace filelock::cli;

namespace {

std::chrono::system_clock::time_point at(std::int64_t unix_seconds) {
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(unix_seconds));
}

// What a reader gets: the document printed, then parsed back.
nlohmann::json round_trip(const json& doc) {
  return nlohmann::json::parse(
      doc.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

TEST_CASE("times are RFC 3339 in UTC, whole seconds") {
  CHECK(rfc3339(at(0)) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339(at(1796325904) + std::chrono::milliseconds(999)) ==
        "2026-12-03T19:25:04Z");
}

TEST_CASE("a free lock has no mode and no holders") {
  lock_report r;
  r.path = "/tmp/x.lock";
  const auto j = round_trip(report_json(r));
  CHECK(j["path"] == "/tmp/x.lock");
  CHECK_FALSE(j.contains("path_hex"));
  CHECK(j["state"] == "free");
  CHECK(j["kind"] == "os");
  CHECK(j["mode"].is_null());
  CHECK(j["holders"] == nlohmann::json::array());
  CHECK(j["stale_reason"].is_null());
  CHECK(j["owner_unknown"] == false);
  CHECK(j["record_error"].is_null());
  CHECK(j["record_format"].is_null());
}

TEST_CASE("an OS lock shared by two holders lists both") {
  lock_report r;
  r.path = "/tmp/x.lock";
  r.state = lock_state::held;
  r.mode = lock_mode::shared;
  for (std::int64_t pid : {100, 200}) {
    holder_info h;
    h.pid = pid;
    h.host = "build7";
    h.command = "flock -s x true";
    h.since = at(1796325904);
    h.mode = lock_mode::shared;
    r.holders.push_back(h);
  }
  const auto j = round_trip(report_json(r));
  CHECK(j["state"] == "held");
  CHECK(j["mode"] == "shared");
  REQUIRE(j["holders"].size() == 2);
  CHECK(j["holders"][0]["pid"] == 100);
  CHECK(j["holders"][1]["pid"] == 200);
  for (const auto& h : j["holders"]) {
    CHECK(h["host"] == "build7");
    CHECK(h["command"] == "flock -s x true");
    CHECK(h["since"] == "2026-12-03T19:25:04Z");
    CHECK(h["mode"] == "shared");
    CHECK(h["expires"].is_null());
  }
}

TEST_CASE("a soft lease shows its expiry but never its token") {
  lock_report r;
  r.path = "/tmp/s.lock";
  r.state = lock_state::held;
  r.kind = lock_kind::soft;
  r.record_format = "filelock";
  holder_info h;
  h.pid = 4242;
  h.host = "build7";
  h.token = "5b7c0000-secret";
  h.since = at(1796325904);
  h.expires = at(1796325934);
  r.holders.push_back(h);
  const auto j = round_trip(report_json(r));
  CHECK(j["kind"] == "soft");
  CHECK(j["mode"] == "exclusive");
  CHECK(j["record_format"] == "filelock");
  CHECK(j["holders"][0]["command"].is_null());
  CHECK(j["holders"][0]["expires"] == "2026-12-03T19:25:34Z");
  CHECK(j.dump().find("5b7c0000-secret") == std::string::npos);
}

TEST_CASE("a stale lock says why, an unknown owner says why not") {
  lock_report stale;
  stale.path = "/tmp/s.lock";
  stale.state = lock_state::stale;
  stale.kind = lock_kind::soft;
  stale.stale_reason = "process 4242 is gone";
  CHECK(round_trip(report_json(stale))["stale_reason"] ==
        "process 4242 is gone");

  lock_report unknown;
  unknown.path = "/tmp/e.lock";
  unknown.state = lock_state::held;
  unknown.kind = lock_kind::soft;
  unknown.owner_unknown = true;
  unknown.record_error = "empty marker";
  const auto j = round_trip(report_json(unknown));
  CHECK(j["state"] == "held");
  CHECK(j["owner_unknown"] == true);
  CHECK(j["record_error"] == "empty marker");
  CHECK(j["holders"].empty());
}

TEST_CASE("a pid of 0 (unknown) is null, not 0") {
  holder_info h;
  CHECK(round_trip(holder_json(h))["pid"].is_null());
  CHECK(round_trip(holder_json(h))["host"].is_null());
}

TEST_CASE("a path that is not UTF-8 keeps its bytes in path_hex") {
  lock_report r;
  r.path = std::string("/tmp/caf\xe9\n.lock");
  const auto j = round_trip(report_json(r));
  CHECK(j["path"] == "/tmp/caf\xef\xbf\xbd\n.lock");  // U+FFFD
  CHECK(j["path_hex"] == "2f746d702f636166e90a2e6c6f636b");
}

TEST_CASE("a UTF-8 path, accents included, has no path_hex") {
  lock_report r;
  r.path = "/tmp/caf\xc3\xa9.lock";
  const auto j = round_trip(report_json(r));
  CHECK(j["path"] == "/tmp/caf\xc3\xa9.lock");
  CHECK_FALSE(j.contains("path_hex"));
}

TEST_CASE("other text that is not UTF-8 is replaced, never an exception") {
  holder_info h;
  h.command = "echo \xff";
  CHECK(round_trip(holder_json(h))["command"] == "echo \xef\xbf\xbd");
}

TEST_CASE("errors carry a stable code string") {
  CHECK(error_name(exit_code::cannot_open) == "cannot_open");
  CHECK(error_name(exit_code::no_permission) == "no_permission");
  CHECK(error_name(exit_code::io_error) == "io_error");
  CHECK(error_name(exit_code::internal) == "internal");
  const auto j = round_trip(error_json(exit_code::io_error, "cannot read"));
  CHECK(j == nlohmann::json{{"code", "io_error"}, {"message", "cannot read"}});
}

TEST_CASE("one lock: held 0, free 1, stale 2") {
  CHECK(status_for(lock_state::held) == 0);
  CHECK(status_for(lock_state::free) == 1);
  CHECK(status_for(lock_state::stale) == 2);
}

TEST_CASE("several locks: the first error, then stale, then free, then held") {
  CHECK(combine_status(0, 0) == 0);
  CHECK(combine_status(0, 1) == 1);
  CHECK(combine_status(1, 0) == 1);
  CHECK(combine_status(1, 2) == 2);
  CHECK(combine_status(2, 1) == 2);
  CHECK(combine_status(2, 66) == 66);
  CHECK(combine_status(66, 77) == 66);
  CHECK(combine_status(77, 2) == 77);
}

TEST_CASE("control characters in a command stay off the next line") {
  CHECK(one_line("sh -c 'a\nb\tc'") == "sh -c 'a b c'");
  holder_info h;
  h.pid = 7;
  h.host = "h";
  h.command = "x\ny";
  CHECK(describe_owner(h) == "pid 7 on h (x y)");
}
