// The soft lock's owner record: what is written, and what is (not) read.
#include <doctest/doctest.h>

#include <string>

#include "record.hpp"

using filelock::detail::format_time;
using filelock::detail::owner_record;
using filelock::detail::parse_record;
using filelock::detail::parse_time;
using filelock::detail::to_json;
using namespace std::chrono_literals;

namespace {

owner_record sample() {
  owner_record r;
  r.pid = 4242;
  r.start = "8812345";
  r.boot_id = "3f0e2a7c-0000-4000-8000-000000000001";
  r.host = "build7";
  r.since = parse_time("2026-12-03T19:05:04.123Z");
  r.lifetime = 30500ms;
  r.token = "5b7c0000-0000-4000-8000-000000000002";
  r.command = "make install";
  return r;
}

}  // namespace

TEST_CASE("an owner record survives a round trip through its JSON text") {
  const auto text = to_json(sample());
  CHECK(text.back() == '\n');
  CHECK(text.find("\"pid\":4242") != std::string::npos);
  CHECK(text.find("\"since\":\"2026-12-03T19:05:04.123Z\"") !=
        std::string::npos);

  auto parsed = parse_record(text);
  REQUIRE(parsed.record);
  const auto& r = *parsed.record;
  CHECK(r.origin == owner_record::format::filelock);
  CHECK(r.pid == 4242);
  CHECK(r.start == "8812345");
  CHECK(r.boot_id == sample().boot_id);
  CHECK(r.host == "build7");
  CHECK(r.since == sample().since);
  REQUIRE(r.lifetime);
  CHECK(*r.lifetime == 30500ms);
  CHECK(r.token == sample().token);
  CHECK(r.command == "make install");
  CHECK(r.mode == filelock::lock_mode::exclusive);
}

TEST_CASE("a record without a lifetime has none after parsing") {
  auto r = sample();
  r.lifetime.reset();
  auto parsed = parse_record(to_json(r));
  REQUIRE(parsed.record);
  CHECK_FALSE(parsed.record->lifetime);
}

TEST_CASE("an empty marker is not a record and says so") {
  auto parsed = parse_record("");
  CHECK_FALSE(parsed.record);
  CHECK(parsed.error == "empty marker");
}

TEST_CASE("garbage, truncated and mistyped records are refused") {
  const auto good = to_json(sample());
  for (auto text : {std::string("hello world\n"), std::string("{"),
                    good.substr(0, good.size() / 2), std::string("[1,2]"),
                    std::string("{\"filelock\":2,\"pid\":1,\"host\":\"h\","
                                "\"token\":\"t\"}"),
                    std::string("{\"filelock\":1,\"pid\":\"1\",\"host\":"
                                "\"h\",\"token\":\"t\"}"),
                    std::string("{\"filelock\":1,\"pid\":-5,\"host\":\"h\","
                                "\"token\":\"t\"}"),
                    std::string("{\"filelock\":1,\"pid\":5,\"host\":\"h\"}"),
                    std::string("{\"filelock\":1,\"pid\":5,\"host\":\"h\","
                                "\"token\":\"t\",\"since\":\"yesterday\"}"),
                    std::string("{\"filelock\":1,\"pid\":5,\"host\":\"h\","
                                "\"token\":\"t\",\"lifetime\":-1}"),
                    good + "trailing"}) {
    CAPTURE(text);
    auto parsed = parse_record(text);
    CHECK_FALSE(parsed.record);
    CHECK_FALSE(parsed.error.empty());
  }
}

TEST_CASE(
    "a keeper survives the round trip, and a bad one refuses the record") {
  auto r = sample();
  r.keeper_pid = 4243;
  r.keeper_start = "8812346";
  const auto text = to_json(r);
  CHECK(text.find("\"keeper\":{\"pid\":4243,\"start\":\"8812346\"}") !=
        std::string::npos);
  auto parsed = parse_record(text);
  REQUIRE(parsed.record);
  CHECK(parsed.record->keeper_pid == 4243);
  CHECK(parsed.record->keeper_start == "8812346");
  CHECK(parse_record(to_json(sample())).record->keeper_pid == 0);

  const std::string head =
      "{\"filelock\":1,\"pid\":5,\"host\":\"h\",\"token\":\"t\",";
  for (auto keeper :
       {"\"keeper\":5}", "\"keeper\":{}}", "\"keeper\":{\"pid\":0}}",
        "\"keeper\":{\"pid\":5,\"start\":\"x\"}}"}) {
    CAPTURE(keeper);
    auto bad = parse_record(head + keeper);
    CHECK_FALSE(bad.record);
    CHECK(bad.error.find("keeper") != std::string::npos);
  }
}

TEST_CASE("a token that could steer helper files elsewhere is refused") {
  // Claims are named after the token, beside the lock: "/" or ".." in it
  // would put them in another directory.
  for (auto token : {"../../etc/x", "a/b", "a.b", "", " t",
                     "0123456789012345678901234567890123456789012345678901234"
                     "5678901234"}) {
    CAPTURE(token);
    auto r = sample();
    r.token = token;
    auto parsed = parse_record(to_json(r));
    CHECK_FALSE(parsed.record);
    CHECK(parsed.error.find("token") != std::string::npos);
  }
  CHECK(filelock::detail::is_token("5b7c0000-0000-4000-8000-000000000002"));
  CHECK(filelock::detail::is_token("A_z-9"));
}

TEST_CASE("a record larger than 64 KiB is refused unread") {
  auto r = sample();
  r.command = std::string(70 * 1024, 'x');
  auto parsed = parse_record(to_json(r));
  CHECK_FALSE(parsed.record);
  CHECK(parsed.error == "owner record larger than 64 KiB");
}

TEST_CASE("python filelock owner lines name a pid and a host") {
  for (auto text : {"1234\nnode3\n", "1234\nnode3", "1234\nnode3\n99887\n"}) {
    CAPTURE(text);
    auto parsed = parse_record(text);
    REQUIRE(parsed.record);
    CHECK(parsed.record->origin == owner_record::format::python);
    CHECK(parsed.record->pid == 1234);
    CHECK(parsed.record->host == "node3");
    CHECK(parsed.record->token.empty());
  }
  for (auto text : {"1234\n", "abc\nnode3\n", "1234\n\n", "0\nnode3\n",
                    "1234\nnode 3\n", "1\nh\nx\ny\n"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_record(text).record);
  }
}

TEST_CASE("RFC 3339 times are written in UTC and read with offsets") {
  const auto t = parse_time("2026-12-03T19:05:04.123Z");
  REQUIRE(t);
  CHECK(format_time(*t) == "2026-12-03T19:05:04.123Z");
  CHECK(parse_time("2026-12-03T21:05:04.123+02:00") == t);
  CHECK(parse_time("2026-12-03T19:05:04Z"));
  CHECK_FALSE(parse_time("2026-02-30T19:05:04Z"));
  CHECK_FALSE(parse_time("2026-12-03 19:05:04Z"));
  CHECK_FALSE(parse_time("2026-12-03T19:05:04"));
  CHECK_FALSE(parse_time("2026-12-03T19:05:04.Z"));
  // Found by the fuzzer: years the nanosecond wall clock cannot hold are
  // refused, not overflowed.
  CHECK(parse_time("2200-01-01T00:00:00Z"));
  CHECK_FALSE(parse_time("2826-12-03T20:28:37.450Z"));
  CHECK_FALSE(parse_time("9999-12-31T23:59:59Z"));
  CHECK_FALSE(parse_time("0001-01-01T00:00:00Z"));
}
