// Semaphores (lock_options::slots): how many get in, the record of N, the
// refusals, waiting, and what inspect() shows; then soft semaphores
// (lock_kind::soft): the record of the kind, a dead holder's slot taken
// over, and break_stale() on the name.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stop_token>
#include <string>
#include <thread>

#include "filelock/etcd.hpp"
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

filelock::lock_options slots(unsigned n, lock_kind kind = lock_kind::os) {
  filelock::lock_options o;
  o.slots = n;
  o.kind = kind;
  return o;
}

std::string content_of(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

void kill_holder(helper_process& h) {
  kill(h.pid(), SIGKILL);
  h.wait();
}

// A soft slot held by another process until it is killed.
struct soft_holder {
  helper_process process;
  soft_holder(const std::filesystem::path& path, unsigned n,
              const char* seconds = "30")
      : process({"slot", path.string(), std::to_string(n), seconds, "soft"}) {}
  void kill_it() { kill_holder(process); }
};

}  // namespace

TEST_CASE("a semaphore of two lets two guards in and keeps a third out") {
  temp_dir dir;
  const auto path = dir / "two";
  file_lock sem(path, slots(2));
  auto a = sem.try_acquire();
  REQUIRE(a);
  CHECK(run_helper({"slot-try", path.string(), "2"}) == 0);
  auto b = sem.try_acquire();
  REQUIRE(b);
  CHECK_FALSE(sem.try_acquire());
  CHECK(run_helper({"slot-try", path.string(), "2"}) == 75);
  a->release();
  CHECK(run_helper({"slot-try", path.string(), "2"}) == 0);
}

TEST_CASE("each guard holds its own slot, numbered from 1") {
  temp_dir dir;
  file_lock sem(dir / "s", slots(3));
  auto a = sem.acquire();
  auto b = sem.acquire();
  CHECK(a.slot() == 1);
  CHECK(b.slot() == 2);
  CHECK(a.path() == dir / "s");
  CHECK(std::filesystem::exists(dir / "s.slot-1"));
  CHECK(std::filesystem::exists(dir / "s.slot-3"));
  a.release();
  CHECK(sem.acquire().slot() == 1);
  file_lock plain(dir / "plain");
  CHECK(plain.acquire().slot() == 0);
}

TEST_CASE("the first acquirer records N, and another N is refused") {
  temp_dir dir;
  const auto path = dir / "s";
  file_lock(path, slots(3)).acquire().release();
  CHECK(content_of(path) == "{\"filelock\":1,\"slots\":3}\n");

  file_lock other(path, slots(4));
  auto r = other.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::slots_mismatch);
  CHECK_FALSE(std::filesystem::exists(dir / "s.slot-4"));
  CHECK_THROWS_AS(other.acquire(), filelock::error);
}

TEST_CASE("a file that records no slot count is not made a semaphore") {
  temp_dir dir;
  for (const char* text : {"", "precious\n", "{\"filelock\":1,\"pid\":1}\n",
                           "{\"filelock\":1,\"slots\":0}\n"}) {
    const auto path = dir / "x";
    std::ofstream(path, std::ios::trunc) << text;
    file_lock sem(path, slots(2));
    auto r = sem.acquire_until(std::nullopt, lock_mode::exclusive);
    CHECK(r.error == filelock::errc::slots_mismatch);
    CHECK(content_of(path) == text);
  }
}

TEST_CASE("shared, etcd and counts outside 1..kMaxSlots are refused") {
  temp_dir dir;
  auto check_refused = [](file_lock& l, lock_mode mode) {
    auto r = l.acquire_until(std::nullopt, mode);
    CHECK(r.status == acquire_status::failed);
    CHECK(r.error == filelock::errc::slots_unsupported);
  };
  file_lock shared(dir / "a", slots(2));
  check_refused(shared, lock_mode::shared);
  auto soft = slots(2);
  soft.kind = filelock::lock_kind::soft;
  file_lock soft_shared(dir / "b", soft);
  check_refused(soft_shared, lock_mode::shared);
  file_lock zero(dir / "c", slots(0));
  check_refused(zero, lock_mode::exclusive);
  file_lock many(dir / "d", slots(filelock::kMaxSlots + 1));
  check_refused(many, lock_mode::exclusive);
  // An etcd name is an etcd semaphore (tests/etcd), whose shared slots
  // are refused before any request (or the build has no etcd at all).
  file_lock etcd("etcd://127.0.0.1:1/jobs", slots(2));
  auto r = etcd.acquire_until(std::nullopt, lock_mode::shared);
  CHECK(r.status == acquire_status::failed);
  CHECK((r.error == filelock::errc::slots_unsupported ||
         r.error == filelock::etcd::errc::not_built));
  for (const char* name : {"a", "b", "c", "d"}) {
    CHECK_FALSE(std::filesystem::exists(dir / name));
  }
}

TEST_CASE("a full semaphore: busy, then timed out, then free by SIGKILL") {
  temp_dir dir;
  const auto path = dir / "s";
  helper_process holder({"slot", path.string(), "1", "30"});
  REQUIRE(holder.wait_locked());
  file_lock sem(path, slots(1));
  CHECK_FALSE(sem.try_acquire());
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(sem.try_acquire_for(300ms));
  CHECK(seconds_since(t0) >= 0.25);
  auto r = sem.acquire_until(std::chrono::steady_clock::now() + 50ms,
                             lock_mode::exclusive);
  CHECK(r.status == acquire_status::timed_out);
  REQUIRE(r.holder);
  CHECK(r.holder->pid == holder.pid());
  // Its death alone frees the slot.
  kill_holder(holder);
  CHECK(sem.try_acquire_for(10s));
}

TEST_CASE("a waiter gets the slot another process frees, whichever slot") {
  for (auto kind : {lock_kind::os, lock_kind::soft}) {
    CAPTURE(kind);
    temp_dir dir;
    const auto path = dir / "s";
    const std::string k = kind == lock_kind::soft ? "soft" : "os";
    helper_process first({"slot", path.string(), "3", "30", k});
    REQUIRE(first.wait_locked());
    helper_process second({"slot", path.string(), "3", "0.5", k});
    REQUIRE(second.wait_locked());
    helper_process third({"slot", path.string(), "3", "30", k});
    REQUIRE(third.wait_locked());
    file_lock sem(path, slots(3, kind));
    const auto t0 = std::chrono::steady_clock::now();
    auto g = sem.try_acquire_for(30s);
    REQUIRE(g);
    CHECK(g->slot() == 2);
    // Woken by the release itself: well before a generous bound.
    CHECK(seconds_since(t0) < 10);
    // And a death wakes a waiter as well as a release does.
    auto w = std::thread([&] {
      auto h = sem.try_acquire_for(30s);
      CHECK(h);
      if (h) CHECK(h->slot() == 3);
    });
    std::this_thread::sleep_for(100ms);
    kill_holder(third);
    w.join();
    kill_holder(first);
  }
}

TEST_CASE("a stop request ends the wait for a slot") {
  for (auto kind : {lock_kind::os, lock_kind::soft}) {
    CAPTURE(kind);
    temp_dir dir;
    file_lock sem(dir / "s", slots(2, kind));
    auto a = sem.acquire();
    auto b = sem.acquire();
    std::stop_source stop;
    filelock::acquire_result r;
    std::thread waiter([&] {
      r = sem.acquire_until(std::nullopt, lock_mode::exclusive,
                            stop.get_token());
    });
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
    waiter.join();
    CHECK(r.status == acquire_status::cancelled);
    CHECK_FALSE(r.lock);
    auto t = sem.acquire_until(std::chrono::steady_clock::now() + 50ms,
                               lock_mode::exclusive);
    CHECK(t.status == acquire_status::timed_out);
    if (sem.holders_complete()) {
      REQUIRE(t.holder);
      CHECK(t.holder->pid == getpid());
    }
    // No slot was kept by the abandoned waits.
    b.release();
    auto c = sem.try_acquire();
    REQUIRE(c);
    CHECK(c->slot() == 2);
  }
}

TEST_CASE("inspect shows every slot and its holder") {
  temp_dir dir;
  const auto path = dir / "s";
  helper_process holder({"slot", path.string(), "3", "30"});
  REQUIRE(holder.wait_locked());
  const auto rep = filelock::inspect(path);
  CHECK(rep.state == filelock::lock_state::held);
  CHECK(rep.slots == 3);
  REQUIRE(rep.slot_list.size() == 3);
  CHECK(rep.slot_list[0].number == 1);
  CHECK(rep.slot_list[0].held);
  CHECK_FALSE(rep.slot_list[1].held);
  CHECK_FALSE(rep.slot_list[2].held);
  file_lock sem(path, slots(3));
  if (sem.holders_complete()) {  // the kernel names holders (Linux)
    REQUIRE(rep.slot_list[0].holder);
    CHECK(rep.slot_list[0].holder->pid == holder.pid());
    REQUIRE(sem.holders().size() == 1);
    CHECK(sem.holders().front().pid == holder.pid());
  }
  kill_holder(holder);
  CHECK(filelock::inspect(path).state == filelock::lock_state::free);
}

TEST_CASE("a soft semaphore of two lets two in, each in its own slot") {
  temp_dir dir;
  const auto path = dir / "s";
  file_lock sem(path, slots(2, lock_kind::soft));
  auto a = sem.try_acquire();
  REQUIRE(a);
  CHECK(a->kind() == lock_kind::soft);
  CHECK(a->slot() == 1);
  CHECK(a->path() == path);
  CHECK(content_of(path) == "{\"filelock\":1,\"slots\":2,\"kind\":\"soft\"}\n");
  // The slot's file is a plain soft marker naming this process.
  CHECK(content_of(dir / "s.slot-1").find("\"pid\"") != std::string::npos);
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
  auto held = file_lock(soft_name, slots(2, lock_kind::soft)).acquire();
  // An OS (or automatic) request on a soft semaphore takes a soft slot.
  for (auto kind : {lock_kind::os, lock_kind::automatic}) {
    auto g = file_lock(soft_name, slots(2, kind)).try_acquire();
    REQUIRE(g);
    CHECK(g->kind() == lock_kind::soft);
    CHECK(g->slot() == 2);
  }
  auto other_n = file_lock(soft_name, slots(3, lock_kind::soft))
                     .acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(other_n.error == filelock::errc::slots_mismatch);
  CHECK_FALSE(std::filesystem::exists(dir / "soft.slot-3"));

  // A soft request on an OS semaphore is refused: its idle slot files
  // would read as markers of an unknown owner.
  const auto os_name = dir / "os";
  file_lock(os_name, slots(2, lock_kind::os)).acquire().release();
  auto r = file_lock(os_name, slots(2, lock_kind::soft))
               .acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.error == filelock::errc::slots_mismatch);
  CHECK(content_of(os_name) == "{\"filelock\":1,\"slots\":2}\n");

  // A record with a kind we do not know is no semaphore record.
  const auto odd = dir / "odd";
  std::ofstream(odd) << "{\"filelock\":1,\"slots\":2,\"kind\":\"os\"}\n";
  r = file_lock(odd, slots(2, lock_kind::soft))
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
  file_lock sem(path, slots(2, lock_kind::soft));
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
  REQUIRE(file_lock(path, slots(2, lock_kind::soft)).holders().size() == 1);
  holder.kill_it();
  CHECK(filelock::inspect(path).state == lock_state::stale);
}
