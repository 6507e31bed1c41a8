// The etcd backend against a real etcd: one private server per test case.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "etcd/client.hpp"
#include "filelock/etcd.hpp"
#include "support.hpp"

namespace fe = filelock::etcd;
using filelock::acquire_status;
using filelock::lock_mode;
using filelock::steady_clock;
using namespace std::chrono_literals;
using filelock::etcd_test::process;
using filelock::etcd_test::server;

namespace {

fe::options quick(std::chrono::seconds ttl = 2s) {
  fe::options o;
  o.lease_ttl = ttl;
  o.request_timeout = 1000ms;
  o.connect_timeout = 500ms;
  return o;
}

std::string name_on(const server& s, const std::string& name) {
  return "etcd://" + s.hostport() + "/" + name;
}

std::size_t keys_under(const server& s, const std::string& name) {
  return fe::inspect(name_on(s, name), quick()).entries.size();
}

filelock::deadline in(std::chrono::milliseconds d) {
  return steady_clock::now() + d;
}

filelock::deadline once() {
  return steady_clock::time_point::min();
}

// Waits until `n` contenders are queued on the name.
bool queued(const server& s, const std::string& name, std::size_t n) {
  auto until = steady_clock::now() + 10s;
  while (steady_clock::now() < until) {
    if (keys_under(s, name) == n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

process helper(const server& s, const std::string& name, const char* mode,
               int ttl, int hold_ms, int wait_ms = -1) {
  return process({FILELOCK_ETCD_HELPER, name_on(s, name), mode,
                  std::to_string(ttl), std::to_string(hold_ms),
                  std::to_string(wait_ms)});
}

std::int64_t fence_of(const std::string& line) {
  REQUIRE(line.starts_with("acquired "));
  return std::stoll(line.substr(9));
}

}  // namespace

TEST_CASE("base64 round-trips every length and refuses garbage") {
  using fe::detail::base64_decode;
  using fe::detail::base64_encode;
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_encode("demo/job") == "ZGVtby9qb2I=");
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n < bytes.size(); n += 37) {
    CHECK(base64_decode(base64_encode(bytes.substr(0, n))) ==
          bytes.substr(0, n));
  }
  CHECK_THROWS(base64_decode("Zg="));
  CHECK_THROWS(base64_decode("Z!=="));
  CHECK_THROWS(base64_decode("Zg==Zg=="));
}

TEST_CASE("lock names carry their endpoints in three forms") {
  auto a = fe::parse_name("etcd://h1:2379,h2:2379/jobs/backup");
  CHECK(a.endpoints ==
        std::vector<std::string>{"http://h1:2379", "http://h2:2379"});
  CHECK(a.name == "jobs/backup");
  auto b = fe::parse_name("etcds://h1:2379/x");
  CHECK(b.endpoints == std::vector<std::string>{"https://h1:2379"});
  auto c = fe::parse_name("etcd:jobs/x", "10.0.0.1:2379,https://h3:1");
  CHECK(c.endpoints ==
        std::vector<std::string>{"http://10.0.0.1:2379", "https://h3:1"});
  CHECK(c.name == "jobs/x");
  CHECK_THROWS_AS(fe::parse_name("etcd://h1:2379/"), filelock::error);
  CHECK_THROWS_AS(fe::parse_name("etcd://h1:2379/x/"), filelock::error);
  CHECK_THROWS_AS(fe::parse_name("etcd://h1:2379"), filelock::error);
  CHECK_THROWS_AS(fe::parse_name("/tmp/x"), filelock::error);
  CHECK(fe::is_etcd_name("etcd:x"));
  CHECK_FALSE(fe::is_etcd_name("/var/lock/etcd:x"));
}

TEST_CASE("etcd down at start: unavailable, naming the endpoint") {
  const auto port = std::to_string(filelock::etcd_test::free_port());
  fe::lock l("etcd://127.0.0.1:" + port + "/jobs/x", quick());
  auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(a.result.status == acquire_status::failed);
  CHECK(a.result.error == fe::errc::unavailable);
  CHECK(a.detail.find("127.0.0.1:" + port) != std::string::npos);
}

TEST_CASE("the first endpoint dead: the second one serves") {
  server s;
  const auto dead = std::to_string(filelock::etcd_test::free_port());
  std::vector<std::string> diagnostics;
  auto o = quick();
  o.on_diagnostic = [&](std::string_view d) { diagnostics.emplace_back(d); };
  fe::lock l("etcd://127.0.0.1:" + dead + "," + s.hostport() + "/jobs/x", o);
  auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  CHECK(a.monitor->endpoint() == s.url());
  CHECK(a.monitor->key().starts_with("jobs/x/"));
  CHECK(!diagnostics.empty());
  a.result.lock.release();
  CHECK(keys_under(s, "jobs/x") == 0);
}

TEST_CASE("waiters get the lock in arrival order with increasing fences") {
  server s;
  fe::lock holder(name_on(s, "q"), quick());
  auto first = holder.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(first.result.acquired());

  std::mutex m;
  std::vector<int> order;
  std::vector<std::int64_t> fences;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      fe::lock l(name_on(s, "q"), quick());
      auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
      REQUIRE(a.result.acquired());
      {
        std::lock_guard lk(m);
        order.push_back(i);
        fences.push_back(a.monitor->fence());
      }
      std::this_thread::sleep_for(20ms);
    });
    // Enqueued one at a time, so arrival order is known.
    REQUIRE(queued(s, "q", static_cast<std::size_t>(i) + 2));
  }
  auto status = fe::inspect(name_on(s, "q"), quick());
  REQUIRE(status.entries.size() == 5);
  CHECK(status.entries[0].holds);
  for (std::size_t i = 1; i < 5; ++i) {
    CHECK_FALSE(status.entries[i].holds);
    CHECK(status.entries[i].position == i);
    CHECK(status.entries[i].holder.command.empty());
    CHECK(status.entries[i].ttl_left.has_value());
  }
  first.result.lock.release();
  for (auto& t : waiters) t.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3});
  REQUIRE(fences.size() == 4);
  CHECK(first.monitor->fence() < fences[0]);
  for (std::size_t i = 1; i < fences.size(); ++i) {
    CHECK(fences[i - 1] < fences[i]);
  }
  CHECK(keys_under(s, "q") == 0);
}

TEST_CASE("busy, timeout and cancel leave no key behind") {
  server s;
  fe::lock holder(name_on(s, "b"), quick());
  auto h = holder.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(h.result.acquired());
  fe::lock other(name_on(s, "b"), quick());

  auto busy = other.acquire_until(once(), lock_mode::exclusive);
  CHECK(busy.result.status == acquire_status::busy);
  REQUIRE(busy.result.holder.has_value());
  CHECK(busy.result.holder->pid == ::getpid());
  CHECK(keys_under(s, "b") == 1);

  auto start = steady_clock::now();
  auto late = other.acquire_until(in(300ms), lock_mode::exclusive);
  CHECK(late.result.status == acquire_status::timed_out);
  CHECK(filelock::etcd_test::seconds_since(start) >= 0.29);
  CHECK(keys_under(s, "b") == 1);

  std::stop_source stop;
  std::thread canceller([&] {
    REQUIRE(queued(s, "b", 2));
    stop.request_stop();
  });
  auto cancelled =
      other.acquire_until(std::nullopt, lock_mode::exclusive, stop.get_token());
  canceller.join();
  CHECK(cancelled.result.status == acquire_status::cancelled);
  CHECK(keys_under(s, "b") == 1);
  h.result.lock.release();
  CHECK(keys_under(s, "b") == 0);
}

TEST_CASE("a holder killed with SIGKILL frees the lock within TTL + margin") {
  server s;
  auto h = helper(s, "k", "x", 1, -1);
  auto line = h.line();
  REQUIRE(line);
  const auto fence = fence_of(*line);
  fe::lock waiter(name_on(s, "k"), quick());
  std::thread killer([&] {
    REQUIRE(queued(s, "k", 2));
    h.signal(SIGKILL);
  });
  auto start = steady_clock::now();
  auto a = waiter.acquire_until(in(10s), lock_mode::exclusive);
  killer.join();
  REQUIRE(a.result.acquired());
  // The granted TTL (1 s here) plus etcd's 500 ms expiry sweep, plus slack
  // for a loaded machine.
  CHECK(filelock::etcd_test::seconds_since(start) < 1.0 + 0.5 + 1.5);
  CHECK(a.monitor->fence() > fence);
}

TEST_CASE("an etcd stall shorter than the TTL loses nothing") {
  server s;
  std::atomic<bool> lost{false};
  auto o = quick(3s);
  o.on_lost = [&](std::string_view) { lost = true; };
  fe::lock l(name_on(s, "st"), o);
  auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  s.freeze();
  std::this_thread::sleep_for(1200ms);
  s.thaw();
  std::this_thread::sleep_for(2500ms);  // past the TTL: renewals resumed
  CHECK_FALSE(lost);
  CHECK_FALSE(a.monitor->lost());
  std::error_code ec;
  CHECK(a.result.lock.is_intact(ec));
  a.result.lock.release();
}

TEST_CASE("an etcd stall longer than the TTL is reported as a loss in time") {
  server s;
  std::atomic<bool> lost{false};
  steady_clock::time_point lost_at;
  auto o = quick(2s);
  o.on_lost = [&](std::string_view) {
    lost_at = steady_clock::now();
    lost = true;
  };
  fe::lock l(name_on(s, "sl"), o);
  auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  const auto ttl = a.monitor->ttl();
  s.freeze();
  const auto frozen = steady_clock::now();
  auto until = frozen + 10s;
  while (!lost && steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  REQUIRE(lost);
  // Reported no later than the moment etcd could have let the lease go
  // (plus the scheduling slack of one renewal attempt).
  CHECK(lost_at <= a.monitor->safe_until() + 200ms);
  CHECK(lost_at - frozen <= ttl + 200ms);
  std::error_code ec;
  CHECK_FALSE(a.result.lock.is_intact(ec));
  s.thaw();
  // Another client acquires only after the loss was reported.
  fe::lock other(name_on(s, "sl"), quick());
  auto b = other.acquire_until(in(10s), lock_mode::exclusive);
  REQUIRE(b.result.acquired());
  CHECK(lost_at < steady_clock::now());
  a.result.lock.release(ec);
  CHECK(ec == filelock::errc::lock_lost);
}

TEST_CASE("a deleted key is reported as lost at once") {
  server s;
  std::atomic<bool> lost{false};
  auto o = quick(5s);
  o.on_lost = [&](std::string_view) { lost = true; };
  fe::lock l(name_on(s, "d"), o);
  auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  filelock::break_options force;
  force.force = true;
  auto start = steady_clock::now();
  auto r = fe::break_stale(name_on(s, "d"), force, quick());
  CHECK(r.outcome == filelock::break_outcome::removed);
  while (!lost && filelock::etcd_test::seconds_since(start) < 5) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(lost);
  CHECK(filelock::etcd_test::seconds_since(start) < 1.0);
}

TEST_CASE("break-stale refuses a live holder and breaks a dead one") {
  server s;
  auto live = helper(s, "bs", "x", 30, -1);
  REQUIRE(live.line());
  auto r = fe::break_stale(name_on(s, "bs"), {}, quick());
  CHECK(r.outcome == filelock::break_outcome::refused_live);
  CHECK(keys_under(s, "bs") == 1);

  filelock::break_options dry;
  dry.dry_run = true;
  dry.force = true;
  CHECK(fe::break_stale(name_on(s, "bs"), dry, quick()).outcome ==
        filelock::break_outcome::would_remove);
  CHECK(keys_under(s, "bs") == 1);

  // Killed: its 30 s lease would keep the lock; its process is provably
  // gone on this host, so break-stale may revoke it.
  live.signal(SIGKILL);
  live.wait();
  auto before = fe::inspect(name_on(s, "bs"), quick());
  REQUIRE(before.entries.size() == 1);
  CHECK(before.state == filelock::lock_state::stale);
  CHECK(before.entries[0].stale_reason.find("is gone") != std::string::npos);
  auto broken = fe::break_stale(name_on(s, "bs"), {}, quick());
  CHECK(broken.outcome == filelock::break_outcome::removed);
  CHECK(keys_under(s, "bs") == 0);
}

TEST_CASE("readers share and a queued writer holds back later readers") {
  server s;
  fe::lock r1(name_on(s, "rw"), quick());
  fe::lock r2(name_on(s, "rw"), quick());
  auto a1 = r1.acquire_until(std::nullopt, lock_mode::shared);
  auto a2 = r2.acquire_until(once(), lock_mode::shared);
  REQUIRE(a1.result.acquired());
  REQUIRE(a2.result.acquired());  // readers share

  std::atomic<int> step{0};
  std::atomic<int> writer_at{-1}, reader_at{-1};
  std::thread writer([&] {
    fe::lock w(name_on(s, "rw"), quick());
    auto a = w.acquire_until(std::nullopt, lock_mode::exclusive);
    REQUIRE(a.result.acquired());
    writer_at = step++;
    std::this_thread::sleep_for(200ms);
    a.result.lock.release();
  });
  REQUIRE(queued(s, "rw", 3));
  std::thread late_reader([&] {
    fe::lock r(name_on(s, "rw"), quick());
    auto a = r.acquire_until(std::nullopt, lock_mode::shared);
    REQUIRE(a.result.acquired());
    reader_at = step++;
  });
  REQUIRE(queued(s, "rw", 4));
  fe::lock probe(name_on(s, "rw"), quick());
  CHECK(probe.acquire_until(once(), lock_mode::shared).result.status ==
        acquire_status::busy);  // behind the writer, although readers hold
  a1.result.lock.release();
  std::this_thread::sleep_for(100ms);
  CHECK(writer_at == -1);  // one reader still holds
  a2.result.lock.release();
  writer.join();
  late_reader.join();
  CHECK(writer_at == 0);
  CHECK(reader_at == 1);
}

TEST_CASE("mutual exclusion with etcdctl lock, both ways") {
  const auto etcdctl = filelock::etcd_test::etcdctl_binary();
  if (etcdctl.empty()) {
    MESSAGE("SKIPPED: no etcdctl");
    return;
  }
  server s;
  // etcdctl holds; we wait.
  process ctl({etcdctl, "--endpoints", s.url(), "lock", "ix/job", "--", "sh",
               "-c", "echo held; sleep 1"},
              {"ETCDCTL_API=3"});
  REQUIRE(ctl.line() == std::optional<std::string>("held"));
  fe::lock ours(name_on(s, "ix/job"), quick());
  CHECK(ours.acquire_until(once(), lock_mode::exclusive).result.status ==
        acquire_status::busy);
  auto a = ours.acquire_until(in(10s), lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  CHECK(ctl.wait() == std::optional<int>(0));

  // We hold; etcdctl waits until we release.
  auto start = steady_clock::now();
  process ctl2(
      {etcdctl, "--endpoints", s.url(), "lock", "ix/job", "--", "echo", "got"},
      {"ETCDCTL_API=3"});
  REQUIRE(queued(s, "ix/job", 2));
  std::this_thread::sleep_for(300ms);
  CHECK(ctl2.wait(0ms) == std::nullopt);
  a.result.lock.release();
  CHECK(ctl2.line() == std::optional<std::string>("got"));
  CHECK(filelock::etcd_test::seconds_since(start) >= 0.3);
  ctl2.wait();
}

TEST_CASE("the fence lets a resource refuse a stale holder") {
  server s;
  fe::lock l(name_on(s, "f"), quick());
  auto first = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(first.result.acquired());
  const auto old_key = first.monitor->key();
  const auto old_fence = first.monitor->fence();
  first.result.lock.release();
  auto second = l.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(second.result.acquired());
  CHECK(second.monitor->fence() > old_fence);

  // A write guarded by create(key) == fence: the stale holder's fails.
  auto where = fe::parse_name(name_on(s, "f"));
  auto cfg = fe::detail::make_config(where, quick());
  fe::detail::client c(cfg);
  auto guarded = [&](const std::string& key, std::int64_t fence) {
    using fe::detail::base64_encode;
    fe::detail::json txn = {
        {"compare",
         {{{"key", base64_encode(key)},
           {"target", "CREATE"},
           {"result", "EQUAL"},
           {"create_revision", std::to_string(fence)}}}},
        {"success",
         {{{"request_put",
            {{"key", base64_encode("data/x")},
             {"value", base64_encode(std::to_string(fence))}}}}}}};
    return c.call("/v3/kv/txn", txn).value("succeeded", false);
  };
  CHECK_FALSE(guarded(old_key, old_fence));
  CHECK(guarded(second.monitor->key(), second.monitor->fence()));
}

TEST_CASE("a one-sided cut: the holder knows it lost before anyone acquires") {
  server s;
  filelock::etcd_test::proxy cut(s.port());
  std::atomic<bool> lost{false};
  std::atomic<steady_clock::rep> lost_at{0};
  auto o = quick(2s);
  o.on_lost = [&](std::string_view) {
    lost_at = steady_clock::now().time_since_epoch().count();
    lost = true;
  };
  fe::lock behind("etcd://" + cut.hostport() + "/cut", o);
  auto h = behind.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(h.result.acquired());

  cut.freeze();
  fe::lock direct(name_on(s, "cut"), quick());
  auto a = direct.acquire_until(in(15s), lock_mode::exclusive);
  const auto acquired_at = steady_clock::now().time_since_epoch().count();
  REQUIRE(a.result.acquired());
  REQUIRE(lost);
  // The loss was known locally before etcd could hand the lock on, with
  // room to spare for stopping a command (filelock run stops it at
  // safe_until - margin - grace).
  CHECK(lost_at.load() < acquired_at);
  CHECK(h.monitor->safe_until().time_since_epoch().count() < acquired_at);
  cut.thaw();
  std::error_code ec;
  h.result.lock.release(ec);
}

TEST_CASE("a wall clock hours off changes nothing (libfaketime)") {
  const char* lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (::access(lib, R_OK) != 0) {
    MESSAGE(
        "SKIPPED: no libfaketime; the design reads only the steady "
        "clock and server revisions, never the wall clock");
    return;
  }
  server s;
  // The holder's wall clock runs 5 hours ahead: it renews and holds for
  // three TTLs without losing anything, and a waiter gets the lock the
  // moment it lets go. Only the wall clock is shifted: libfaketime shifts
  // CLOCK_MONOTONIC in user space only, while the kernel's timed waits
  // keep the real one, so a shifted steady clock would test libfaketime.
  process h({FILELOCK_ETCD_HELPER, name_on(s, "clock"), "x", "1", "3000"},
            {"LD_PRELOAD=" + std::string(lib), "FAKETIME=+5h",
             "FAKETIME_DONT_FAKE_MONOTONIC=1",
             // Under AddressSanitizer the preload comes before its runtime.
             "ASAN_OPTIONS=verify_asan_link_order=0"});
  auto line = h.line();
  REQUIRE(line);
  fence_of(*line);
  auto st = fe::inspect(name_on(s, "clock"), quick());
  REQUIRE(st.entries.size() == 1);
  REQUIRE(st.entries[0].holder.since.has_value());
  CHECK(*st.entries[0].holder.since >
        std::chrono::system_clock::now() + 4h);  // the offset is real
  fe::lock waiter(name_on(s, "clock"), quick());
  auto start = steady_clock::now();
  auto a = waiter.acquire_until(in(10s), lock_mode::exclusive);
  REQUIRE(a.result.acquired());
  const double waited = filelock::etcd_test::seconds_since(start);
  CHECK(waited > 2.5);
  CHECK(waited < 4.5);
  CHECK(h.line() == std::optional<std::string>("released"));
  CHECK(h.wait() == std::optional<int>(0));
}

TEST_CASE("file_lock takes an etcd name through the etcd backend") {
  server s;
  filelock::lock_options o;
  o.command = "through file_lock";
  filelock::file_lock l(name_on(s, "fl"), o);
  auto g = l.acquire();
  std::error_code ec;
  CHECK(g.is_intact(ec));
  CHECK(g.path() == name_on(s, "fl"));
  auto st = fe::inspect(name_on(s, "fl"), quick());
  REQUIRE(st.entries.size() == 1);
  CHECK(st.entries[0].holder.command == "through file_lock");
  CHECK_FALSE(l.try_acquire().has_value());  // not reentrant: a new lease
  CHECK(keys_under(s, "fl") == 1);
  g.release();
  CHECK(keys_under(s, "fl") == 0);
  // Nobody listens there: unavailable, not "no such file".
  filelock::file_lock down(
      "etcd://127.0.0.1:" + std::to_string(filelock::etcd_test::free_port()) +
      "/x");
  auto r = down.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == fe::errc::unavailable);
}

TEST_CASE("file_lock with slots on an etcd name: one guard per slot") {
  server s;
  filelock::lock_options o;
  o.slots = 2;
  filelock::file_lock l(name_on(s, "fls"), o);
  auto a = l.acquire();
  auto b = l.acquire();  // not reentrant: each acquire takes a slot
  CHECK(a.slot() + b.slot() == 3);
  CHECK_FALSE(l.try_acquire().has_value());
  CHECK(keys_under(s, "fls") == 2);
  const auto now = steady_clock::time_point::min();
  auto shared = l.acquire_until(now, lock_mode::shared);
  CHECK(shared.error == filelock::errc::slots_unsupported);
  filelock::lock_options three = o;
  three.slots = 3;
  auto other = filelock::file_lock(name_on(s, "fls"), three)
                   .acquire_until(now, lock_mode::exclusive);
  CHECK(other.status == acquire_status::failed);
  CHECK(other.error == filelock::errc::slots_mismatch);
  CHECK(keys_under(s, "fls") == 2);
  const auto freed = a.slot();
  a.release();
  auto c = l.acquire();
  CHECK(c.slot() == freed);
}

TEST_CASE("a lease lost while waiting never turns into a lock") {
  server s;
  filelock::etcd_test::proxy cut(s.port());
  fe::lock direct(name_on(s, "lw"), quick());
  auto holder = direct.acquire_until(std::nullopt, lock_mode::exclusive);
  REQUIRE(holder.result.acquired());

  std::atomic<bool> waiter_holds{false};
  std::atomic<bool> overlap{false};
  std::atomic<acquire_status> waiter_status{acquire_status::failed};
  std::thread waiter([&] {
    fe::lock l("etcd://" + cut.hostport() + "/lw", quick(1s));
    auto a = l.acquire_until(steady_clock::now() + 20s, lock_mode::exclusive);
    waiter_status = a.result.status;
    if (!a.result.acquired()) return;
    waiter_holds = true;
    a.result.lock.release();
    waiter_holds = false;
  });
  REQUIRE(queued(s, "lw", 2));
  cut.freeze();  // the waiter can neither renew nor hear anything
  std::this_thread::sleep_for(2500ms);  // its 1 s lease expires meanwhile
  holder.result.lock.release();

  // The next contender gets the lock; the cut-off waiter, whose key is
  // gone, must not believe it holds it too.
  fe::lock third(name_on(s, "lw"), quick());
  auto t = third.acquire_until(in(10s), lock_mode::exclusive);
  REQUIRE(t.result.acquired());
  cut.thaw();
  for (int i = 0; i < 40; ++i) {
    if (waiter_holds) overlap = true;
    std::this_thread::sleep_for(25ms);
  }
  CHECK_FALSE(overlap);
  t.result.lock.release();
  // Queued again with a new lease and served, or, when its re-check
  // itself hit the cut, failed as unavailable: never a lock it lost.
  waiter.join();
  CHECK((waiter_status == acquire_status::acquired ||
         waiter_status == acquire_status::failed));
}

TEST_CASE(
    "authentication: the right password works and a wrong one is denied") {
  const auto etcdctl = filelock::etcd_test::etcdctl_binary();
  if (etcdctl.empty()) {
    MESSAGE("SKIPPED: no etcdctl");
    return;
  }
  server s;
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {etcdctl, "--endpoints", s.url()};
    argv.insert(argv.end(), args.begin(), args.end());
    return filelock::etcd_test::run(argv, {"ETCDCTL_API=3"}).first;
  };
  REQUIRE(ctl({"user", "add", "root", "--new-user-password=rootpw"}) == 0);
  REQUIRE(ctl({"user", "grant-role", "root", "root"}) == 0);
  REQUIRE(ctl({"user", "add", "alice", "--new-user-password=alicepw"}) == 0);
  REQUIRE(ctl({"role", "add", "locker"}) == 0);
  REQUIRE(ctl({"role", "grant-permission", "locker", "readwrite",
               "--prefix=true", "team/"}) == 0);
  REQUIRE(ctl({"user", "grant-role", "alice", "locker"}) == 0);
  REQUIRE(ctl({"auth", "enable"}) == 0);

  auto o = quick();
  o.user = "alice";
  o.password = "alicepw";
  fe::lock ok(name_on(s, "team/job"), o);
  auto a = ok.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(a.result.acquired());
  if (a.result.acquired()) a.result.lock.release();

  o.password = "wrong";
  fe::lock denied(name_on(s, "team/job"), o);
  auto d = denied.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(d.result.status == acquire_status::failed);
  CHECK(d.result.error == fe::errc::access_denied);

  o.password = "alicepw";
  fe::lock elsewhere(name_on(s, "other/job"), o);  // no permission there
  auto e = elsewhere.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(e.result.status == acquire_status::failed);
  CHECK(e.result.error == fe::errc::access_denied);
}

TEST_CASE("TLS: etcds:// verifies the server with the given CA") {
  char tmpl[] = "/tmp/filelock-etcd-ca-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::filesystem::path dir = tmpl;
  if (!filelock::etcd_test::make_test_ca(dir)) {
    std::filesystem::remove_all(dir);
    MESSAGE("SKIPPED: openssl cannot make a test CA");
    return;
  }
  {
    server s(dir);
    CHECK(s.url().starts_with("https://"));
    const auto name = "etcds://" + s.hostport() + "/tls";
    auto o = quick();
    o.ca_file = (dir / "ca.pem").string();
    fe::lock l(name, o);
    auto a = l.acquire_until(std::nullopt, lock_mode::exclusive);
    REQUIRE(a.result.acquired());
    CHECK(fe::inspect(name, o).entries.size() == 1);
    a.result.lock.release();

    fe::lock untrusted(name, quick());  // the system CAs do not know it
    auto u = untrusted.acquire_until(std::nullopt, lock_mode::exclusive);
    CHECK(u.result.status == acquire_status::failed);
    CHECK(u.result.error == fe::errc::unavailable);
    CHECK(u.detail.find("certificate") != std::string::npos);
  }
  std::filesystem::remove_all(dir);
}
