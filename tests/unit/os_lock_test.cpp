// The OS lock: exclusion between processes and threads, reentrancy,
// timeouts, cancellation, and what happens to the lock file.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "filelock/filelock.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using filelock::acquire_status;
using filelock::file_lock;
using filelock::lock_mode;
using filelock::test::helper_process;
using filelock::test::run_helper;
using filelock::test::seconds_since;
using filelock::test::temp_dir;

TEST_CASE("an exclusive lock keeps another process out until released") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  file_lock lock(path);
  {
    auto g = lock.acquire();
    CHECK(run_helper({"try", path, "exclusive"}) == 75);
    CHECK(run_helper({"try", path, "shared"}) == 75);
  }
  CHECK(run_helper({"try", path, "exclusive"}) == 0);
}

TEST_CASE("shared locks coexist and keep an exclusive one out") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  file_lock lock(path);
  auto g = lock.acquire(lock_mode::shared);
  CHECK(run_helper({"try", path, "shared"}) == 0);
  CHECK(run_helper({"try", path, "exclusive"}) == 75);
}

TEST_CASE("a missing lock file is created and never deleted on release") {
  temp_dir dir;
  const auto path = dir / "new.lock";
  file_lock lock(path);
  lock.acquire().release();
  CHECK(std::filesystem::is_regular_file(path));
}

TEST_CASE("the requested mode is applied to a new file regardless of umask") {
  temp_dir dir;
  const auto path = dir / "shared.lock";
  const mode_t old = umask(077);
  {
    filelock::lock_options o;
    o.file_mode = static_cast<std::filesystem::perms>(0664);
    file_lock lock(path, o);
    auto g = lock.acquire();
  }
  umask(old);
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0664);
}

TEST_CASE("an existing lock file is never truncated") {
  temp_dir dir;
  const auto path = dir / "data.lock";
  std::ofstream(path) << "precious\n";
  file_lock lock(path);
  lock.acquire().release();
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  CHECK(line == "precious");
}

TEST_CASE("a symlink at the lock path is refused and its target untouched") {
  temp_dir dir;
  std::ofstream(dir / "victim") << "precious\n";
  std::filesystem::create_symlink(dir / "victim", dir / "link.lock");
  std::filesystem::create_symlink(dir / "not-there", dir / "dangling.lock");
  file_lock link(dir / "link.lock");
  auto r =
      link.acquire_until(filelock::steady_clock::now(), lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::symlink_refused);
  file_lock dangling(dir / "dangling.lock");
  CHECK_THROWS_AS(dangling.acquire(), filelock::error);
  CHECK_FALSE(std::filesystem::exists(dir / "not-there"));
}

TEST_CASE("a directory, a FIFO and a missing parent are errors, not busy") {
  temp_dir dir;
  std::filesystem::create_directory(dir / "d");
  REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
  for (auto p : {dir / "d", dir / "fifo", dir / "missing" / "x.lock"}) {
    file_lock lock(p);
    auto r = lock.acquire_until(std::nullopt, lock_mode::exclusive);
    CHECK(r.status == acquire_status::failed);
    CHECK(r.error);
  }
}

TEST_CASE("follow_symlink locks the link's target, never creating one") {
  temp_dir dir;
  std::ofstream(dir / "target.lock") << "precious\n";
  std::filesystem::create_symlink(dir / "target.lock", dir / "link.lock");
  std::filesystem::create_symlink(dir / "not-there", dir / "dangling.lock");
  filelock::lock_options opts;
  opts.follow_symlink = true;
  {
    file_lock link(dir / "link.lock", opts);
    auto g = link.acquire();
    CHECK(run_helper({"try", (dir / "target.lock").string(), "exclusive"}) ==
          75);
    // The intactness check follows the link too, or every acquire through
    // a link would look like a replaced file and start over.
    std::error_code ec;
    CHECK(g.is_intact(ec));
    CHECK_FALSE(ec);
  }
  // A link to nothing would make a privileged caller create its target.
  file_lock dangling(dir / "dangling.lock", opts);
  auto r = dangling.acquire_until(filelock::steady_clock::now(),
                                  lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == std::errc::no_such_file_or_directory);
  CHECK_FALSE(std::filesystem::exists(dir / "not-there"));
  std::ifstream in(dir / "target.lock");
  std::string content;
  std::getline(in, content);
  CHECK(content == "precious");
}

TEST_CASE("allow_directory locks a directory, and a FIFO is still refused") {
  temp_dir dir;
  std::filesystem::create_directory(dir / "d");
  REQUIRE(mkfifo((dir / "fifo").c_str(), 0600) == 0);
  filelock::lock_options opts;
  opts.allow_directory = true;
  file_lock lock(dir / "d", opts);
  auto g = lock.acquire();
  // Another thread is kept out exactly as another process would be.
  bool busy = false;
  std::thread other([&] {
    file_lock again(dir / "d", opts);
    busy = again.acquire_until(filelock::steady_clock::now(), lock_mode::shared)
               .status == acquire_status::busy;
  });
  other.join();
  CHECK(busy);
  file_lock fifo(dir / "fifo", opts);
  auto r = fifo.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::not_a_regular_file);
}

TEST_CASE("the error message names the operation, the path and the reason") {
  temp_dir dir;
  file_lock lock(dir / "missing" / "x.lock");
  try {
    lock.acquire();
    FAIL("acquire should have thrown");
  } catch (const filelock::error& e) {
    CHECK(std::string(e.what()) == "cannot create '" +
                                       (dir / "missing" / "x.lock").string() +
                                       "': No such file or directory");
    CHECK(e.operation() == "create");
  }
}

TEST_CASE("try_acquire_for times out on a held lock, on time") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  const auto t0 = std::chrono::steady_clock::now();
  auto g = lock.try_acquire_for(300ms);
  const double took = seconds_since(t0);
  CHECK_FALSE(g.has_value());
  CHECK(took >= 0.29);
  CHECK(took < 2.0);
}

TEST_CASE("a shared request honours the timeout too (portalocker#74)") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(lock.try_acquire_for(300ms, lock_mode::shared).has_value());
  CHECK(seconds_since(t0) < 2.0);
}

TEST_CASE("the timeout fires even when the wake-up signal is blocked") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  file_lock lock(path);
  const auto t0 = std::chrono::steady_clock::now();
  auto g = lock.try_acquire_for(200ms);
  const double took = seconds_since(t0);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  CHECK_FALSE(g.has_value());
  CHECK(took < 2.0);
}

TEST_CASE("a waiter gets the lock when the holder releases, not at a poll") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "0.5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  auto g = lock.try_acquire_for(10s);
  CHECK(g.has_value());
  CHECK(holder.wait() == 0);
}

TEST_CASE("another thread can cancel a wait, which returns without the lock") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "10"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  std::stop_source stop;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r =
      lock.acquire_until(std::nullopt, lock_mode::exclusive, stop.get_token());
  canceller.join();
  CHECK(r.status == acquire_status::cancelled);
  CHECK_FALSE(r.lock.owns_lock());
  CHECK(seconds_since(t0) < 3.0);
}

TEST_CASE("a busy result names the holder's pid on Linux") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  auto r =
      lock.acquire_until(filelock::steady_clock::now(), lock_mode::exclusive);
  CHECK(r.status == acquire_status::busy);
#if defined(__linux__)
  REQUIRE(r.holder.has_value());
  CHECK(r.holder->pid == holder.pid());
#endif
}

TEST_CASE("re-acquiring in the same thread counts up instead of deadlocking") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  file_lock a(path);
  file_lock b(dir.path() / "." / "x.lock");  // another spelling, same file
  auto g1 = a.acquire();
  auto g2 = b.try_acquire_for(1s);
  REQUIRE(g2.has_value());
  g1.release();
  CHECK(run_helper({"try", path, "exclusive"}) == 75);
  g2->release();
  CHECK(run_helper({"try", path, "exclusive"}) == 0);
}

TEST_CASE("a hard link to a held lock file is the same lock") {
  temp_dir dir;
  file_lock a(dir / "x.lock");
  auto g = a.acquire();
  std::filesystem::create_hard_link(dir / "x.lock", dir / "alias.lock");
  file_lock b(dir / "alias.lock");
  CHECK(b.try_acquire().has_value());
}

TEST_CASE("upgrading shared to exclusive in one owner is refused at once") {
  temp_dir dir;
  file_lock lock(dir / "x.lock");
  auto g = lock.acquire(lock_mode::shared);
  auto r = lock.acquire_until(std::nullopt, lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::would_deadlock);
}

TEST_CASE("two threads of one process exclude each other") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path);
  auto g = lock.acquire();
  std::atomic<bool> other_got{false};
  std::thread t([&] {
    file_lock mine(path);
    other_got = mine.try_acquire().has_value();
  });
  t.join();
  CHECK_FALSE(other_got.load());
}

TEST_CASE("many threads and processes incrementing a counter lose nothing") {
  temp_dir dir;
  const auto lock_path = (dir / "x.lock").string();
  const auto counter = (dir / "counter").string();
  std::ofstream(counter) << 0 << '\n';
  constexpr int kProcs = 4, kThreads = 4, kEach = 50;
  std::vector<std::unique_ptr<helper_process>> procs;
  for (int i = 0; i < kProcs; ++i) {
    procs.push_back(std::make_unique<helper_process>(std::vector<std::string>{
        "count", lock_path, counter, std::to_string(kEach)}));
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      file_lock lock(lock_path);
      for (int k = 0; k < kEach; ++k) {
        auto g = lock.acquire();
        long v = 0;
        {
          std::ifstream in(counter);
          in >> v;
        }
        std::ofstream(counter, std::ios::trunc) << v + 1 << '\n';
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& p : procs) CHECK(p->wait() == 0);
  long total = 0;
  std::ifstream(counter) >> total;
  CHECK(total == (kProcs + kThreads) * kEach);
}

TEST_CASE("a forked child cannot release its parent's lock") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  file_lock lock(path);
  auto g = lock.acquire();
  const pid_t child = fork();
  if (child == 0) {
    std::error_code ec;
    g.release(ec);
    _exit(ec == filelock::errc::inherited_across_fork ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(run_helper({"try", path, "exclusive"}) == 75);
}

TEST_CASE("a lock file replaced while we wait is not the one we end up on") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "0.5"});
  REQUIRE(holder.wait_locked());
  std::thread replacer([&] {
    std::this_thread::sleep_for(100ms);
    std::filesystem::remove(path);
    std::ofstream(path) << "";
  });
  file_lock lock(path);
  auto g = lock.try_acquire_for(5s);
  replacer.join();
  REQUIRE(g.has_value());
  std::error_code ec;
  CHECK(g->is_intact(ec));
  // Whoever opens the path now finds the file we hold.
  CHECK(run_helper({"try", path, "exclusive"}) == 75);
}

TEST_CASE("async acquire delivers the guard without blocking the caller") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "0.3"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  auto fut = lock.acquire_async();
  CHECK(fut.wait_for(0ms) == std::future_status::timeout);
  auto g = fut.get();
  CHECK(g.owns_lock());
}

TEST_CASE("a cancelled async acquire leaves nothing held") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  helper_process holder({"hold", path, "exclusive", "1"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  std::stop_source stop;
  auto fut = lock.acquire_async(lock_mode::exclusive, stop.get_token());
  std::this_thread::sleep_for(100ms);
  stop.request_stop();
  CHECK_THROWS_AS(fut.get(), filelock::error);
  CHECK(holder.wait() == 0);
  CHECK(run_helper({"try", path, "exclusive"}) == 0);
}

TEST_CASE("the diagnostic callback hears about a wait, and only then") {
  temp_dir dir;
  const auto path = (dir / "x.lock").string();
  std::vector<std::string> lines;
  filelock::lock_options o;
  o.on_diagnostic = [&lines](std::string_view l) { lines.emplace_back(l); };
  file_lock lock(path, o);
  lock.acquire().release();
  CHECK(lines.empty());
  helper_process holder({"hold", path, "exclusive", "0.3"});
  REQUIRE(holder.wait_locked());
  auto g = lock.acquire();
  REQUIRE(lines.size() == 1);
  CHECK(lines.front() == "waiting for exclusive lock on '" + path + "'");
}

TEST_CASE("readers and writers in threads and processes never overlap") {
  temp_dir dir;
  const auto lock_path = (dir / "rw.lock").string();
  const auto arena = (dir / "arena").string();
  std::filesystem::create_directory(arena);
  std::vector<std::unique_ptr<helper_process>> procs;
  for (int i = 0; i < 4; ++i) {
    procs.push_back(std::make_unique<helper_process>(
        std::vector<std::string>{"rw", lock_path, arena, "60"}));
  }
  std::atomic<int> violations{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      violations += filelock::test::reader_writer_rounds(
          lock_path, arena, 60, static_cast<unsigned>(t));
    });
  }
  for (auto& th : threads) th.join();
  for (auto& p : procs) CHECK(p->wait() == 0);
  CHECK(violations.load() == 0);
}
