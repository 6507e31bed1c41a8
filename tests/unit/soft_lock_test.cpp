// The soft lock: exclusion, owner records, stale rules, takeover races,
// inotify wake-ups, leases, and the inspection API.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "filelock/filelock.hpp"
#include "platform.hpp"
#include "posix/sys.hpp"
#include "record.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using filelock::acquire_status;
using filelock::break_outcome;
using filelock::file_lock;
using filelock::lock_kind;
using filelock::lock_mode;
using filelock::lock_options;
using filelock::lock_state;
using filelock::test::temp_dir;
namespace fs = std::filesystem;
namespace platform = filelock::detail::platform;

namespace {

lock_options soft(std::chrono::milliseconds poll = 50ms) {
  lock_options o;
  o.kind = lock_kind::soft;
  o.poll_interval = poll;
  return o;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// A record as this process would write it, for hand-made markers.
filelock::detail::owner_record my_record() {
  filelock::detail::owner_record r;
  r.pid = getpid();
  r.start = platform::process_start(r.pid);
  r.boot_id = platform::boot_id();
  r.host = platform::host_name();
  r.since = std::chrono::system_clock::now();
  r.token = platform::new_token();
  return r;
}

// A pid that belonged to a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

// Leaves at path the marker of a process that has died; returns its record.
filelock::detail::owner_record dead_owners_marker(const fs::path& path) {
  auto r = my_record();
  r.pid = dead_pid();
  write_file(path, filelock::detail::to_json(r));
  return r;
}

// Runs fn in a child process; returns its exit status.
template <class F>
pid_t spawn(F fn) {
  pid_t pid = fork();
  if (pid == 0) {
    int rc = 1;
    try {
      rc = fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    _exit(rc);
  }
  return pid;
}

int reap(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void set_mtime_ago(const fs::path& p, std::chrono::seconds ago) {
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= ago.count();
  ts[1] = ts[0];
  utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

}  // namespace

TEST_CASE("a soft lock keeps another process out and is gone on release") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path, soft());
  {
    auto g = lock.acquire();
    CHECK(g.kind() == lock_kind::soft);
    CHECK(fs::exists(path));
    auto child = spawn([&] {
      file_lock other(path, soft());
      return other.try_acquire() ? 0 : 75;
    });
    CHECK(reap(child) == 75);
  }
  CHECK_FALSE(fs::exists(path));
  // Nothing else is left in the directory either.
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("the marker holds a readable owner record that inspect reports") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto o = soft();
  o.command = "make install";
  o.lifetime = 30s;
  file_lock lock(path, o);
  auto g = lock.acquire();

  const auto text = slurp(path);
  CHECK(text.find("\"command\":\"make install\"") != std::string::npos);
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.kind == lock_kind::soft);
  CHECK(rep.record_format == "filelock");
  REQUIRE(rep.holders.size() == 1);
  const auto& h = rep.holders[0];
  CHECK(h.pid == getpid());
  CHECK(h.host == platform::host_name());
  CHECK(h.command == "make install");
  CHECK(h.since);
  CHECK(h.expires);
  CHECK(h.token.size() == 36);
  CHECK(h.boot_id == platform::boot_id());
}

TEST_CASE(
    "a soft lock is reentrant for its owner and excludes other "
    "threads") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path, soft());
  auto a = lock.acquire();
  auto b = lock.acquire();  // same thread: counts up
  std::atomic<bool> got{false};
  std::thread other([&] {
    auto g = lock.acquire();
    got = true;
  });
  std::this_thread::sleep_for(200ms);
  CHECK_FALSE(got.load());
  a.release();
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(got.load());  // b still holds it
  b.release();
  other.join();
  CHECK(got.load());
}

TEST_CASE("a shared soft lock is refused, not silently made exclusive") {
  temp_dir dir;
  file_lock lock(dir / "x.lock", soft());
  auto r = lock.acquire_until(std::nullopt, lock_mode::shared);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::shared_soft_unsupported);
  CHECK_FALSE(fs::exists(dir / "x.lock"));
}

TEST_CASE("a marker whose process is gone is stale and taken over") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const auto r = dead_owners_marker(path);

  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason == "process " + std::to_string(r.pid) + " is gone");

  file_lock lock(path, soft());
  auto g = lock.try_acquire();
  REQUIRE(g);
  CHECK(filelock::inspect(path).holders.at(0).pid == getpid());
}

TEST_CASE("a dead owner's marker is held while its keeper lives") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.pid = dead_pid();
  r.keeper_pid = getpid();
  r.keeper_start = platform::process_start(getpid());
  write_file(path, filelock::detail::to_json(r));

  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::held);
  REQUIRE(rep.holders.size() == 1);
  CHECK(rep.holders[0].keeper_pid == getpid());
  file_lock lock(path, soft());
  CHECK_FALSE(lock.try_acquire());

  r.keeper_pid = dead_pid();
  r.keeper_start.clear();
  write_file(path, filelock::detail::to_json(r));
  rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason == "process " + std::to_string(r.pid) +
                                " is gone, and so is its keeper " +
                                std::to_string(r.keeper_pid));
  CHECK(lock.try_acquire());
}

TEST_CASE("add_keeper puts the keeper in the record a waiter judges") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path, soft());
  auto g = lock.acquire();
  const pid_t keeper = dead_pid();
  std::error_code ec;
  g.add_keeper(keeper, ec);
  REQUIRE_FALSE(ec);
  const auto parsed = filelock::detail::parse_record(slurp(path));
  REQUIRE(parsed.record);
  CHECK(parsed.record->keeper_pid == keeper);
  CHECK(parsed.record->pid == getpid());
  CHECK(g.is_intact(ec));
  g.release();
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a live pid with another start time is a reused pid: stale") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.start = "1";  // we did not start at tick 1
  write_file(path, filelock::detail::to_json(r));
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason.find("pid now belongs to another process") !=
        std::string::npos);
}

TEST_CASE("a record from another boot of this host is stale") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.boot_id = "00000000-0000-4000-8000-000000000000";
  write_file(path, filelock::detail::to_json(r));
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason.find("rebooted") != std::string::npos);
}

TEST_CASE("another host's record is held whatever its pid says") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.host = "some-other-host.example";
  r.pid = dead_pid();
  r.boot_id = "00000000-0000-4000-8000-000000000000";
  write_file(path, filelock::detail::to_json(r));
  CHECK(filelock::inspect(path).state == lock_state::held);
  CHECK(filelock::break_stale(path).outcome == break_outcome::refused_live);
  file_lock lock(path, soft());
  CHECK_FALSE(lock.try_acquire());
  CHECK(fs::exists(path));
}

TEST_CASE("a lease that ran out is stale even if its owner lives") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.host = "some-other-host.example";
  r.lifetime = 2s;
  write_file(path, filelock::detail::to_json(r));
  CHECK(filelock::inspect(path).state == lock_state::held);
  set_mtime_ago(path, 10s);
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason.find("lifetime of 2 s ran out") != std::string::npos);
  CHECK(filelock::break_stale(path).outcome == break_outcome::removed);
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE(
    "an empty or unparsable marker has an unknown owner: held, only "
    "a forced break removes it") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  for (auto content : {"", "{\"half\":"}) {
    CAPTURE(content);
    write_file(path, content);
    auto rep = filelock::inspect(path, lock_kind::soft);
    CHECK(rep.state == lock_state::held);
    CHECK(rep.owner_unknown);
    CHECK_FALSE(rep.record_error.empty());
    // Under automatic it cannot be told from an idle OS lock file.
    CHECK(filelock::inspect(path).state == lock_state::free);

    file_lock lock(path, soft());
    CHECK_FALSE(lock.try_acquire());
    filelock::break_options opts;
    opts.kind = lock_kind::soft;
    CHECK(filelock::break_stale(path, opts).outcome ==
          break_outcome::refused_unknown);
    CHECK(fs::exists(path));
    opts.force = true;
    opts.dry_run = true;
    CHECK(filelock::break_stale(path, opts).outcome ==
          break_outcome::would_remove);
    CHECK(fs::exists(path));
    opts.dry_run = false;
    CHECK(filelock::break_stale(path, opts).outcome == break_outcome::removed);
    CHECK_FALSE(fs::exists(path));
  }
}

namespace {

// Sets the mtime to a minute before this machine booted.
bool set_mtime_before_boot(const fs::path& p) {
  const auto boot = platform::boot_time();
  if (!boot) return false;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(
      boot->time_since_epoch() - 60s);
  struct timespec ts[2] = {};
  ts[0].tv_sec = static_cast<time_t>(secs.count());
  ts[1] = ts[0];
  return utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace

TEST_CASE(
    "an unknown owner's marker made before the last boot is stale; "
    "a record is never judged by its mtime") {
  temp_dir dir;
  if (platform::is_network_filesystem(dir.path())) return;  // rule is local
  const auto path = dir / "x.lock";
  // A record lost in a crash: an empty or half-written marker from before
  // the reboot.
  for (auto content : {"", "{\"half\":"}) {
    CAPTURE(content);
    write_file(path, content);
    REQUIRE(set_mtime_before_boot(path));
    auto rep = filelock::inspect(path, lock_kind::soft);
    CHECK(rep.state == lock_state::stale);
    CHECK(rep.owner_unknown);
    CHECK(rep.stale_reason.find("before this machine booted") !=
          std::string::npos);
    {
      file_lock lock(path, soft());
      auto g = lock.try_acquire();
      REQUIRE(g);
      CHECK(filelock::inspect(path).holders.at(0).pid == getpid());
    }
    CHECK_FALSE(fs::exists(path));
  }

  // The same empty marker made since the boot: unknown owner, held.
  write_file(path, "");
  auto rep = filelock::inspect(path, lock_kind::soft);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.owner_unknown);
  CHECK(rep.stale_reason.empty());

  // A live owner's record with an old mtime (a clock set forward since
  // the marker was made) is not judged by its mtime: neither ours nor
  // Python filelock's owner lines, which name no boot.
  write_file(path, filelock::detail::to_json(my_record()));
  REQUIRE(set_mtime_before_boot(path));
  CHECK(filelock::inspect(path, lock_kind::soft).state == lock_state::held);
  write_file(path,
             std::to_string(getpid()) + "\n" + platform::host_name() + "\n");
  REQUIRE(set_mtime_before_boot(path));
  CHECK(filelock::inspect(path, lock_kind::soft).state == lock_state::held);
  fs::remove(path);
}

TEST_CASE("python filelock owner lines show the holder by pid and host") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  write_file(path,
             std::to_string(getpid()) + "\n" + platform::host_name() + "\n");
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.record_format == "python-filelock");
  REQUIRE(rep.holders.size() == 1);
  CHECK(rep.holders[0].pid == getpid());

  write_file(path,
             std::to_string(dead_pid()) + "\n" + platform::host_name() + "\n");
  CHECK(filelock::inspect(path).state == lock_state::stale);
  CHECK(filelock::break_stale(path).outcome == break_outcome::removed);
}

TEST_CASE("C10: an old marker that carries a live OS lock is never broken") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto r = my_record();
  r.pid = dead_pid();
  r.lifetime = 1s;
  write_file(path, filelock::detail::to_json(r));
  set_mtime_ago(path, 3600s);
  const auto ino = fs::status(path).type() == fs::file_type::regular
                       ? [&] {
                           struct stat st {};
                           stat(path.c_str(), &st);
                           return st.st_ino;
                         }()
                       : 0;
  // Another process holds an OS lock on the very same file.
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  auto holder = spawn([&] {
    int fd = open(path.c_str(), O_RDONLY);
    flock(fd, LOCK_EX);
    char c = 'x';
    [[maybe_unused]] auto n = write(fds[1], &c, 1);
    sleep(3);
    return 0;
  });
  char c;
  REQUIRE(read(fds[0], &c, 1) == 1);

  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.kind == lock_kind::os);
  filelock::break_options opts;
  opts.force = true;
  CHECK(filelock::break_stale(path, opts).outcome ==
        break_outcome::refused_live);
  file_lock lock(path, soft());
  CHECK_FALSE(lock.try_acquire());
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK(st.st_ino == ino);
  kill(holder, SIGKILL);
  reap(holder);
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE(
    "a detached soft lock outlives its guard; release_soft checks the "
    "owner") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto o = soft();
  o.owner_pid = getppid();
  file_lock lock(path, o);
  std::string token;
  {
    auto g = lock.acquire();
    token = g.detach();
    CHECK_FALSE(g.owns_lock());
  }
  CHECK(fs::exists(path));
  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::held);
  CHECK(rep.holders.at(0).pid == getppid());

  filelock::release_options by_me;
  by_me.owner_pid = getpid();
  auto refused = filelock::release_soft(path, by_me);
  CHECK(refused.outcome == filelock::release_outcome::not_owner);
  REQUIRE(refused.owner);
  CHECK(refused.owner->pid == getppid());
  CHECK(fs::exists(path));

  filelock::release_options by_token;
  by_token.token = token;
  CHECK(filelock::release_soft(path, by_token).outcome ==
        filelock::release_outcome::released);
  CHECK_FALSE(fs::exists(path));
  CHECK(filelock::release_soft(path, by_token).outcome ==
        filelock::release_outcome::not_held);

  // By owner pid, and by force.
  lock.acquire().detach();
  filelock::release_options by_parent;
  by_parent.owner_pid = getppid();
  CHECK(filelock::release_soft(path, by_parent).outcome ==
        filelock::release_outcome::released);
  lock.acquire().detach();
  filelock::release_options forced;
  forced.force = true;
  CHECK(filelock::release_soft(path, forced).outcome ==
        filelock::release_outcome::released);
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("a soft waiter is woken by inotify, not by its poll interval") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  auto holder = spawn([&] {
    file_lock lock(path, soft());
    auto g = lock.acquire();
    char c = 'l';
    [[maybe_unused]] auto n = write(fds[1], &c, 1);
    std::this_thread::sleep_for(700ms);
    const auto at = std::chrono::steady_clock::now().time_since_epoch();
    g.release();
    const std::int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(at).count();
    n = write(fds[1], &ns, sizeof ns);
    return 0;
  });
  char c;
  REQUIRE(read(fds[0], &c, 1) == 1);

  // A 5 s poll: only the notification can make this fast.
  file_lock lock(path, soft(5000ms));
  auto g = lock.try_acquire_for(20s);
  const auto got = std::chrono::steady_clock::now().time_since_epoch();
  REQUIRE(g);
  std::int64_t released_ns = 0;
  REQUIRE(read(fds[0], &released_ns, sizeof released_ns) == sizeof released_ns);
  const auto latency = std::chrono::nanoseconds(
      std::chrono::duration_cast<std::chrono::nanoseconds>(got).count() -
      released_ns);
  MESSAGE("soft wake-up latency: "
          << std::chrono::duration<double, std::milli>(latency).count()
          << " ms");
  CHECK(latency < 500ms);
  CHECK(reap(holder) == 0);
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("a soft waiter gives up at its deadline and on a stop request") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path, soft());
  auto g = lock.acquire();
  auto child = spawn([&] {
    file_lock other(path, soft());
    const auto t0 = std::chrono::steady_clock::now();
    auto r = other.acquire_until(t0 + 300ms, lock_mode::exclusive);
    const auto took = std::chrono::steady_clock::now() - t0;
    if (r.status != acquire_status::timed_out) return 1;
    if (took < 300ms || took > 3s) return 2;
    if (!r.holder || r.holder->pid != getppid()) return 3;

    std::stop_source stop;
    std::thread stopper([&] {
      std::this_thread::sleep_for(200ms);
      stop.request_stop();
    });
    auto c = other.acquire_until(std::nullopt, lock_mode::exclusive,
                                 stop.get_token());
    stopper.join();
    return c.status == acquire_status::cancelled ? 0 : 4;
  });
  CHECK(reap(child) == 0);
}

TEST_CASE(
    "a refreshed lease outlives its lifetime; a broken one is "
    "reported lost") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto o = soft();
  o.lifetime = 1s;
  file_lock lock(path, o);
  auto g = lock.acquire();
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(300ms);
    g.refresh();
  }
  CHECK(filelock::inspect(path).state == lock_state::held);
  std::error_code ec;
  CHECK(g.is_intact(ec));

  // No refresh for longer than the lifetime: stale, and broken.
  std::this_thread::sleep_for(1500ms);
  CHECK(filelock::inspect(path).state == lock_state::stale);
  CHECK(filelock::break_stale(path).outcome == break_outcome::removed);
  CHECK_FALSE(g.is_intact(ec));
  g.refresh(ec);
  CHECK(ec == filelock::errc::lock_lost);
}

TEST_CASE(
    "automatic falls back to the soft lock only where OS locks are "
    "refused") {
  temp_dir dir;
  lock_options o;
  o.kind = lock_kind::automatic;
  std::vector<std::string> said;
  o.on_diagnostic = [&](std::string_view s) { said.emplace_back(s); };
  file_lock lock(dir / "x.lock", o);
  auto g = lock.acquire();
  // This filesystem does OS locks (the fallback itself is tested with an
  // LD_PRELOAD shim in tests/integration/t_soft_auto_fallback.sh).
  CHECK(g.kind() == lock_kind::os);
  CHECK(said.empty());
}

// Many processes acquire, work in a critical section and release; a quarter
// of them die holding the lock, and breakers race the acquirers to remove
// the markers they leave. The critical section is a directory that only one
// process can create: finding it already there is an overlap.
TEST_CASE(
    "race stress: acquirers and breakers on one soft lock never "
    "overlap") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const auto crit = dir / "crit";
  const auto overlaps = dir / "overlaps";
  constexpr int kWorkers = 8, kRounds = 25, kBreakers = 3;

  auto one_round = [&](int worker, int round) {
    file_lock lock(path, soft(5ms));
    auto g = lock.try_acquire_for(60s);
    if (!g) return 2;
    if (mkdir(crit.c_str(), 0700) != 0) {
      std::ofstream(overlaps, std::ios::app) << worker << ":" << round << "\n";
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
    rmdir(crit.c_str());
    // Die holding it now and then: the marker stays behind, stale.
    if ((worker + round) % 4 == 0) _exit(0);
    return 0;
  };

  std::vector<pid_t> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.push_back(spawn([&, w] {
      for (int round = 0; round < kRounds; ++round) {
        auto p = spawn([&] { return one_round(w, round); });
        if (reap(p) != 0) return 1;
      }
      return 0;
    }));
  }
  const auto stop_file = dir / "stop";
  std::vector<pid_t> breakers;
  for (int b = 0; b < kBreakers; ++b) {
    breakers.push_back(spawn([&] {
      while (!fs::exists(stop_file)) {
        filelock::break_stale(path);
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      return 0;
    }));
  }
  for (auto p : workers) CHECK(reap(p) == 0);
  write_file(stop_file, "");
  for (auto p : breakers) CHECK(reap(p) == 0);
  CHECK(slurp(overlaps) == "");
  // Every claim file was cleaned up.
  for (auto& e : fs::directory_iterator(dir.path())) {
    CHECK(e.path().filename().string().find(".claim-") == std::string::npos);
  }
}

TEST_CASE(
    "a claim left by a killed breaker shows in the stale reason and "
    "only a forced break clears it") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const auto r = dead_owners_marker(path);
  const auto claim = dir / (".x.lock.claim-" + r.token);
  write_file(claim, "");

  auto rep = filelock::inspect(path);
  CHECK(rep.state == lock_state::stale);
  CHECK(rep.stale_reason.find("a takeover is under way, or was "
                              "interrupted (.x.lock.claim-") !=
        std::string::npos);
  CHECK(filelock::break_stale(path).outcome == break_outcome::lost_race);
  CHECK(fs::exists(path));
  file_lock lock(path, soft());
  CHECK_FALSE(lock.try_acquire());

  filelock::break_options forced;
  forced.force = true;
  CHECK(filelock::break_stale(path, forced).outcome == break_outcome::removed);
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("a soft waiter takes over at once when the holder dies") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  auto holder = spawn([&] {
    file_lock lock(path, soft());
    auto g = lock.acquire();
    char c = 'l';
    [[maybe_unused]] auto n = write(fds[1], &c, 1);
    pause();
    return 0;
  });
  char c;
  REQUIRE(read(fds[0], &c, 1) == 1);

  std::thread killer([&] {
    std::this_thread::sleep_for(700ms);
    kill(holder, SIGKILL);
  });
  // A 5 s poll: only the exit notification can make this fast. The dead
  // holder stays a zombie (not reaped yet), which counts as gone.
  file_lock lock(path, soft(5000ms));
  const auto t0 = std::chrono::steady_clock::now();
  auto g = lock.try_acquire_for(20s);
  const auto took = std::chrono::steady_clock::now() - t0;
  killer.join();
  REQUIRE(g);
  MESSAGE("takeover after the holder's death: "
          << std::chrono::duration<double, std::milli>(took - 700ms).count()
          << " ms");
  CHECK(took < 1200ms);
  CHECK(reap(holder) == 128 + SIGKILL);
  close(fds[0]);
  close(fds[1]);
}

namespace {

// Set while the ABA test runs: the lock path, and the record put there.
fs::path aba_path;
std::string aba_replacement;
bool aba_done = false;

// Stands in for what other processes can do between a breaker's judgment
// and its claim: another remover finishes (marker and claim gone) and a
// newcomer takes the lock. A breaker's first temporary file is its claim's.
int open_after_a_takeover(const char* path, int flags, mode_t mode) {
  if (!aba_done && std::string_view(path).ends_with(".tmp")) {
    aba_done = true;
    unlink(aba_path.c_str());
    const int fd = filelock::detail::sys::real_calls().open(
        aba_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    [[maybe_unused]] auto n =
        write(fd, aba_replacement.data(), aba_replacement.size());
    close(fd);
  }
  return filelock::detail::sys::real_calls().open(path, flags, mode);
}

}  // namespace

TEST_CASE(
    "a breaker whose marker was replaced before its claim leaves the "
    "new one alone") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  auto stale = my_record();
  stale.pid = dead_pid();
  write_file(path, filelock::detail::to_json(stale));
  aba_path = path;
  aba_replacement = filelock::detail::to_json(my_record());
  aba_done = false;

  auto& calls = filelock::detail::sys::calls();
  calls.open = open_after_a_takeover;
  const auto outcome = filelock::break_stale(path).outcome;
  calls.open = filelock::detail::sys::real_calls().open;

  CHECK(aba_done);
  CHECK(outcome == break_outcome::lost_race);
  CHECK(slurp(path) == aba_replacement);
  CHECK(filelock::inspect(path).state == lock_state::held);
}

namespace {

// A claim file as a remover with that pid would leave it.
void write_claim(const fs::path& claim, pid_t pid) {
  auto r = my_record();
  r.pid = pid;
  r.start.clear();
  write_file(claim, filelock::detail::to_json(r));
}

fs::path claim_of(const fs::path& lock, const std::string& token,
                  const std::string& generation = "") {
  return lock.parent_path() /
         ("." + lock.filename().string() + ".claim-" + token + generation);
}

}  // namespace

TEST_CASE("a remover killed after its claim does not stick the lock") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const auto r = dead_owners_marker(path);
  // Killed mid-removal, twice over: two generations of dead claimers.
  write_claim(claim_of(path, r.token), dead_pid());
  write_claim(claim_of(path, r.token, ".1"), dead_pid());

  file_lock lock(path, soft());
  auto g = lock.try_acquire();
  REQUIRE(g);
  CHECK(filelock::inspect(path).holders.at(0).pid == getpid());
  CHECK_FALSE(fs::exists(claim_of(path, r.token)));
  CHECK_FALSE(fs::exists(claim_of(path, r.token, ".1")));
  CHECK_FALSE(fs::exists(claim_of(path, r.token, ".2")));
}

TEST_CASE("a live remover's claim, or an empty one, is waited for") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const auto r = dead_owners_marker(path);
  const auto claim = claim_of(path, r.token);

  for (bool empty : {false, true}) {
    CAPTURE(empty);
    if (empty) {
      write_file(claim, "");
    } else {
      write_claim(claim, getpid());
    }
    file_lock lock(path, soft());
    CHECK_FALSE(lock.try_acquire());
    CHECK(filelock::break_stale(path).outcome == break_outcome::lost_race);
    CHECK(fs::exists(path));
    CHECK(fs::exists(claim));
  }
  filelock::break_options force;
  force.force = true;
  CHECK(filelock::break_stale(path, force).outcome == break_outcome::removed);
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(claim));
}

TEST_CASE("break-stale sweeps only the leftovers of processes that are gone") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  const std::string dot = ".x.lock.";
  auto rec = [](pid_t pid) {
    auto r = my_record();
    r.pid = pid;
    r.start.clear();
    return r;
  };
  const auto dead = dead_pid();
  const auto me = std::to_string(getpid());
  // Unpublished records: a dead maker's (by its name, even empty), a live
  // one's, a live maker's for a dead owner (filelock acquire's shell).
  const auto dead_temp = rec(dead);
  write_file(
      dir / (dot + dead_temp.token + "." + std::to_string(dead) + ".tmp"), "");
  const auto live_temp = rec(getpid());
  write_file(dir / (dot + live_temp.token + "." + me + ".tmp"),
             filelock::detail::to_json(live_temp));
  const auto orphan_temp = rec(dead);
  write_file(dir / (dot + orphan_temp.token + "." + me + ".tmp"),
             filelock::detail::to_json(orphan_temp));
  // Claims of markers long gone: a dead remover's and a live one's.
  write_claim(claim_of(path, platform::new_token()), dead);
  const auto live_claim = claim_of(path, platform::new_token());
  write_claim(live_claim, getpid());
  // Another lock's, whose name starts the same.
  const auto other = dir / (".x.lock.d." + platform::new_token() + "." +
                            std::to_string(dead) + ".tmp");
  write_file(other, "");

  filelock::break_options dry;
  dry.dry_run = true;
  auto rep = filelock::break_stale(path, dry);
  CHECK(rep.outcome == break_outcome::nothing_to_do);
  CHECK(rep.leftovers.size() == 3);
  rep = filelock::break_stale(path);
  CHECK(rep.leftovers.size() == 3);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    left.push_back(e.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  std::vector<std::string> want = {other.filename().string(),
                                   live_claim.filename().string(),
                                   dot + live_temp.token + "." + me + ".tmp"};
  std::sort(want.begin(), want.end());
  CHECK(left == want);
}
