// Semaphores on Windows: one LockFileEx lock per slot file, between real
// processes; a waiter blocks on every slot at once.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "filelock/filelock.hpp"
#include "support_win32.hpp"

using namespace std::chrono_literals;
using filelock::file_lock;
using namespace filelock::test::win;

namespace {

filelock::lock_options slots(unsigned n) {
  filelock::lock_options o;
  o.slots = n;
  return o;
}

}  // namespace

TEST_CASE("win32: a semaphore of two keeps a third holder out") {
  temp_dir dir;
  const std::string path = dir / "s";
  child holder({helper_exe(), "slot", path, "2", "10"});
  REQUIRE(holder.wait_locked());
  file_lock sem(path, slots(2));
  auto mine = sem.try_acquire();
  REQUIRE(mine);
  CHECK(mine->slot() == 2);
  CHECK(run({helper_exe(), "slot-try", path, "2"}).status == 75);
  mine->release();
  CHECK(run({helper_exe(), "slot-try", path, "2"}).status == 0);
  holder.kill();
}

TEST_CASE("win32: a slot waiter wakes when any holder goes, killed or not") {
  temp_dir dir;
  const std::string path = dir / "s";
  child first({helper_exe(), "slot", path, "2", "60"});
  REQUIRE(first.wait_locked());
  child second({helper_exe(), "slot", path, "2", "60"});
  REQUIRE(second.wait_locked());
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    second.kill();
  });
  file_lock sem(path, slots(2));
  const auto t0 = std::chrono::steady_clock::now();
  auto g = sem.try_acquire_for(20s);
  killer.join();
  REQUIRE(g);
  CHECK(g->slot() == 2);
  CHECK(seconds_since(t0) < 15.0);
  CHECK_THROWS_AS(file_lock(path, slots(3)).try_acquire(), filelock::error);
  first.kill();
}

// Rounds cancelled at different moments, from before the slot threads
// start to well into their wait. Here the caller's stop reaches the slot
// threads without a std::stop_callback (platform.hpp's
// stop_callbacks_safe); this test did not catch the callback's rare hang
// either way, it checks that the relay by looking ends every wait.
TEST_CASE("win32: another thread cancels a slot wait, every time") {
  temp_dir dir;
  const std::string path = dir / "s";
  child holder({helper_exe(), "slot", path, "1", "120"});
  REQUIRE(holder.wait_locked());
  file_lock sem(path, slots(1));
  for (int round = 0; round < 100; ++round) {
    std::stop_source stop;
    std::thread canceller([&stop, round] {
      std::this_thread::sleep_for(std::chrono::microseconds(round * 37 % 3000));
      stop.request_stop();
    });
    auto r = sem.acquire_until(std::nullopt, filelock::lock_mode::exclusive,
                               stop.get_token());
    canceller.join();
    REQUIRE(r.status == filelock::acquire_status::cancelled);
    REQUIRE_FALSE(r.lock.owns_lock());
  }
  holder.kill();
}
