// Soft semaphores (lock_options::slots with lock_kind::soft): how many get
// in, the record of N and kind, a dead holder's slot taken over, waiting,
// what inspect() and break_stale() do with the slots.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stop_token>
#include <string>
#include <thread>

#include "filelock/filelock.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using filelock::acquire_status;
using filelock::file_lock;
using filelock::lock_kind;
using filelock::lock_mode;
using filelock::lock_state;
using filelock::test::helper_process;
using filelock::test::run_helper;
using filelock::test::seconds_since;
using filelock::test::temp_dir;

namespace {

filelock::lock_options soft_slots(unsigned n,
                                  lock_kind kind = lock_kind::soft) {
  filelock::lock_options o;
  o.slots = n;
  o.kind = kind;
  return o;
}

std::string text_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A soft slot held by another process until it is killed.
struct soft_holder {
  helper_process process;
  soft_holder(const std::filesystem::path& path, unsigned n,
              const char* seconds = "30")
      : process({"slot", path.string(), std::to_string(n), seconds, "soft"}) {}
  void kill_it() {
    kill(process.pid(), SIGKILL);
    process.wait();
  }
};

}  // namespace

TEST_CASE("a soft semaphore of two lets two in, each in its own slot") {
  temp_dir dir;
  const auto path = dir / "s";
  file_lock sem(path, soft_slots(2));
  auto a = sem.try_acquire();
  REQUIRE(a);
  CHECK(a->kind() == lock_kind::soft);
  CHECK(a->slot() == 1);
  CHECK(a->path() == path);
  CHECK(text_of(path) == "{\"filelock\":1,\"slots\":2,\"kind\":\"soft\"}\n");
  // The slot's file is a plain soft marker naming this process.
  CHECK(text_of(dir / "s.slot-1").find("\"pid\"") != std::string::npos);
  CHECK(run_helper({"slot-try", path.string(), "2"}) == 0);
  // Not reentrant: the same thread takes the second slot, then none.
  auto b = sem.try_acquire();
  REQUIRE(b);
  CHECK(b->slot() == 2);
  CHECK_FALSE(sem.try_acquire());
  CHECK(run_helper({"slot-try", path.string(), "2"}) == 75);
  a->release();
  CHECK_FALSE(std::filesystem::exists(dir / "s.slot-1"));
  auto c = sem.try_acquire();
  REQUIRE(c);
  CHECK(c->slot() == 1);
}

TEST_CASE("a soft semaphore's record decides its kind and its N") {
  temp_dir dir;
  const auto soft_name = dir / "soft";
  auto held = file_lock(soft_name, soft_slots(2)).acquire();
  // An OS (or automatic) request on a soft semaphore takes a soft slot.
  for (auto kind : {lock_kind::os, lock_kind::automatic}) {
    auto g = file_lock(soft_name, soft_slots(2, kind)).try_acquire();
    REQUIRE(g);
    CHECK(g->kind() == lock_kind::soft);
    CHECK(g->slot() == 2);
  }
  auto other_n = file_lock(soft_name, soft_slots(3))
                     .acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(other_n.error == filelock::errc::slots_mismatch);
  CHECK_FALSE(std::filesystem::exists(dir / "soft.slot-3"));

  // A soft request on an OS semaphore is refused: its idle slot files
  // would read as markers of an unknown owner.
  const auto os_name = dir / "os";
  file_lock(os_name, soft_slots(2, lock_kind::os)).acquire().release();
  auto r = file_lock(os_name, soft_slots(2))
               .acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::slots_mismatch);
  CHECK(text_of(os_name) == "{\"filelock\":1,\"slots\":2}\n");

  // A record with a kind we do not know is no semaphore record.
  const auto odd = dir / "odd";
  std::ofstream(odd) << "{\"filelock\":1,\"slots\":2,\"kind\":\"os\"}\n";
  r = file_lock(odd, soft_slots(2))
          .acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::slots_mismatch);
}

TEST_CASE("a SIGKILLed soft holder's slot is taken over") {
  temp_dir dir;
  const auto path = dir / "s";
  soft_holder first(path, 2);
  REQUIRE(first.process.wait_locked());
  soft_holder second(path, 2);
  REQUIRE(second.process.wait_locked());
  file_lock sem(path, soft_slots(2));
  CHECK_FALSE(sem.try_acquire());
  first.kill_it();
  // Its marker is left behind, stale, and the next acquirer takes it.
  CHECK(std::filesystem::exists(dir / "s.slot-1"));
  const auto rep = filelock::inspect(path);
  REQUIRE(rep.slot_list.size() == 2);
  CHECK(rep.slot_list[0].stale);
  CHECK_FALSE(rep.slot_list[0].held);
  CHECK(rep.slot_list[1].held);
  auto g = sem.try_acquire();
  REQUIRE(g);
  CHECK(g->slot() == 1);
  second.kill_it();
}

TEST_CASE("a soft waiter gets the slot another process frees, whichever") {
  temp_dir dir;
  const auto path = dir / "s";
  soft_holder first(path, 3);
  REQUIRE(first.process.wait_locked());
  soft_holder second(path, 3, "0.5");  // releases after half a second
  REQUIRE(second.process.wait_locked());
  soft_holder third(path, 3);
  REQUIRE(third.process.wait_locked());
  file_lock sem(path, soft_slots(3));
  const auto t0 = std::chrono::steady_clock::now();
  auto g = sem.try_acquire_for(30s);
  REQUIRE(g);
  CHECK(g->slot() == 2);
  CHECK(seconds_since(t0) < 10);
  // And a death wakes the waiter as well as a release does.
  auto w = std::thread([&] {
    auto h = sem.try_acquire_for(30s);
    CHECK(h);
    if (h) CHECK(h->slot() == 3);
  });
  std::this_thread::sleep_for(100ms);
  third.kill_it();
  w.join();
  first.kill_it();
}

TEST_CASE("a stop request ends the wait for a soft slot, keeping none") {
  temp_dir dir;
  file_lock sem(dir / "s", soft_slots(2));
  auto a = sem.acquire();
  auto b = sem.acquire();
  std::stop_source stop;
  filelock::acquire_result r;
  std::thread waiter([&] {
    r = sem.acquire_until(std::nullopt, lock_mode::exclusive, stop.get_token());
  });
  std::this_thread::sleep_for(100ms);
  stop.request_stop();
  waiter.join();
  CHECK(r.status == acquire_status::cancelled);
  auto t = sem.acquire_until(std::chrono::steady_clock::now() + 50ms,
                             lock_mode::exclusive);
  CHECK(t.status == acquire_status::timed_out);
  REQUIRE(t.holder);
  CHECK(t.holder->pid == getpid());
  b.release();
  auto c = sem.try_acquire();
  REQUIRE(c);
  CHECK(c->slot() == 2);
}

TEST_CASE("break_stale on a soft semaphore's name breaks its dead slots") {
  temp_dir dir;
  const auto path = dir / "s";
  soft_holder dead(path, 3);
  REQUIRE(dead.process.wait_locked());
  soft_holder alive(path, 3);
  REQUIRE(alive.process.wait_locked());
  dead.kill_it();

  filelock::break_options dry;
  dry.dry_run = true;
  auto rep = filelock::break_stale(path, dry);
  CHECK(rep.outcome == filelock::break_outcome::would_remove);
  REQUIRE(rep.slots.size() == 3);
  CHECK(rep.slots[0].outcome == filelock::break_outcome::would_remove);
  CHECK(rep.slots[1].outcome == filelock::break_outcome::refused_live);
  CHECK(rep.slots[2].outcome == filelock::break_outcome::nothing_to_do);
  CHECK(rep.before.slots == 3);
  CHECK(std::filesystem::exists(dir / "s.slot-1"));

  rep = filelock::break_stale(path);
  CHECK(rep.outcome == filelock::break_outcome::removed);
  CHECK(rep.slots[0].before.path == dir / "s.slot-1");
  CHECK_FALSE(std::filesystem::exists(dir / "s.slot-1"));
  CHECK(std::filesystem::exists(dir / "s.slot-2"));
  CHECK(std::filesystem::exists(path));  // the record stays
  CHECK(filelock::inspect(path).state == lock_state::held);
  alive.kill_it();
}

TEST_CASE("inspect names every soft slot's holder") {
  temp_dir dir;
  const auto path = dir / "s";
  soft_holder holder(path, 2);
  REQUIRE(holder.process.wait_locked());
  const auto rep = filelock::inspect(path);
  CHECK(rep.kind == lock_kind::soft);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.slots == 2);
  REQUIRE(rep.slot_list.size() == 2);
  REQUIRE(rep.slot_list[0].holder);
  CHECK(rep.slot_list[0].holder->pid == holder.process.pid());
  CHECK(rep.slot_list[0].file == dir / "s.slot-1");
  CHECK_FALSE(rep.slot_list[1].held);
  CHECK_FALSE(rep.slot_list[1].holder);
  REQUIRE(file_lock(path, soft_slots(2)).holders().size() == 1);
  holder.kill_it();
  CHECK(filelock::inspect(path).state == lock_state::stale);
}
