// Fair queueing (lock_options::fair): arrival order against a holder that
// keeps coming back, dead waiters, what a failed wait leaves, refusals,
// and the queue inspect() shows.
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>

#include "filelock/filelock.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using filelock::acquire_status;
using filelock::file_lock;
using filelock::lock_mode;
using filelock::test::helper_process;
using filelock::test::seconds_since;
using filelock::test::temp_dir;

namespace {

filelock::lock_options fair() {
  filelock::lock_options o;
  o.fair = true;
  return o;
}

int lines_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

// The ticket files in the name's queue directory, live or not.
int tickets_of(const std::filesystem::path& name) {
  int n = 0;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator(name.string() + ".fair", ec)) {
    if (e.path().filename().string().front() != '.') ++n;
  }
  return n;
}

// Waits (at most 10 s) until inspect() shows `n` live tickets.
bool queue_reaches(const std::filesystem::path& name, std::size_t n) {
  const auto start = std::chrono::steady_clock::now();
  while (filelock::inspect(name).queue.size() != n) {
    if (seconds_since(start) > 10) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a fair waiter goes before holders that ask again at once") {
  // Three holders that ask again the moment they release: flock(2) alone
  // lets them take it back over a woken waiter (a thousand rounds and
  // more here); with fair, their next tickets come after ours.
  temp_dir dir;
  const auto path = dir / "fair";
  const auto log = dir / "log";
  helper_process loop1({"fair-loop", path.string(), log.string(), "1000"});
  helper_process loop2({"fair-loop", path.string(), log.string(), "1000"});
  helper_process loop3({"fair-loop", path.string(), log.string(), "1000"});
  REQUIRE(loop1.wait_locked());
  REQUIRE(loop2.wait_locked());
  REQUIRE(loop3.wait_locked());
  // Counted once our ticket is published: the core says whom it queues
  // behind right after.
  std::atomic<int> before{-1};
  auto options = fair();
  options.on_diagnostic = [&](std::string_view) {
    if (before < 0) before = lines_of(log);
  };
  file_lock lock(path, options);
  auto g = lock.try_acquire_for(20s);
  REQUIRE(g);
  // The round under way when we queued, and each other holder at most
  // once more. (No line was said when we found nobody ahead: then there
  // is nothing to count.)
  INFO("rounds while we waited: ", lines_of(log) - before);
  if (before >= 0) CHECK(lines_of(log) - before <= 4);
  g->release();
  CHECK(loop1.wait() == 0);
  CHECK(loop2.wait() == 0);
  CHECK(loop3.wait() == 0);
  CHECK(lines_of(log) == 3000);
}

TEST_CASE("a fair waiter killed in the queue holds up nobody behind it") {
  temp_dir dir;
  const auto path = dir / "fair";
  file_lock lock(path, fair());
  auto held = lock.acquire();
  helper_process dying({"fair-wait", path.string()});
  REQUIRE(queue_reaches(path, 2));
  helper_process behind({"fair-wait", path.string()});
  REQUIRE(queue_reaches(path, 3));
  kill(dying.pid(), SIGKILL);
  dying.wait();
  // Its successor removes the dead ticket as soon as the kernel frees it.
  CHECK(queue_reaches(path, 2));
  held.release();
  CHECK(behind.wait_locked());
  CHECK(behind.wait() == 0);
  CHECK(tickets_of(path) == 0);
}

TEST_CASE(
    "a fair wait that times out, is cancelled or fails a try leaves "
    "no ticket") {
  temp_dir dir;
  const auto path = dir / "fair";
  file_lock first(path, fair());
  auto held = first.acquire();
  helper_process holder({"fair-wait", path.string()});
  REQUIRE(queue_reaches(path, 2));

  std::thread other([&] {
    file_lock lock(path, fair());
    CHECK_FALSE(lock.try_acquire());
    CHECK_FALSE(lock.try_acquire_for(100ms));
    std::stop_source stop;
    auto r = std::async(std::launch::async, [&] {
      return lock.acquire_until(std::nullopt, lock_mode::exclusive,
                                stop.get_token());
    });
    std::this_thread::sleep_for(50ms);
    stop.request_stop();
    CHECK(r.get().status == acquire_status::cancelled);
  });
  other.join();
  CHECK(tickets_of(path) == 2);  // ours, and the helper's behind it
  held.release();
  CHECK(holder.wait_locked());
  CHECK(holder.wait() == 0);
  CHECK(tickets_of(path) == 0);
}

TEST_CASE("fair refuses what has no queue, and its owner asking again") {
  temp_dir dir;
  const auto path = dir / "fair";
  auto soft = fair();
  soft.kind = filelock::lock_kind::soft;
  auto r = file_lock(path, soft).acquire_until({}, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::fair_unsupported);
  auto sem = fair();
  sem.slots = 2;
  r = file_lock(dir / "sem", sem).acquire_until({}, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::fair_unsupported);
  r = file_lock(path, fair()).acquire_until({}, lock_mode::shared);
  CHECK(r.error == filelock::errc::fair_unsupported);

  file_lock lock(path, fair());
  auto g = lock.acquire();
  r = lock.acquire_until({}, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::would_deadlock);
  g.release();
  CHECK(lock.try_acquire());
}

TEST_CASE("inspect shows the fair queue, the holder's ticket first") {
  temp_dir dir;
  const auto path = dir / "fair";
  file_lock lock(path, fair());
  auto g = lock.acquire();
  helper_process waiter({"fair-wait", path.string()});
  REQUIRE(queue_reaches(path, 2));
  const auto rep = filelock::inspect(path);
  REQUIRE(rep.queue.size() == 2);
  CHECK(rep.queue[0].waiter.pid == getpid());
  CHECK(rep.queue[1].waiter.pid == waiter.pid());
  CHECK(rep.queue[0].ticket < rep.queue[1].ticket);
  g.release();
  CHECK(waiter.wait() == 0);
  CHECK(filelock::inspect(path).queue.empty());
}
