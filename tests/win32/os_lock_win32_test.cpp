// The OS lock on Windows (LockFileEx on byte 0), between real processes.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "filelock/filelock.hpp"
#include "support_win32.hpp"

using namespace std::chrono_literals;
using filelock::acquire_status;
using filelock::file_lock;
using filelock::lock_mode;
using namespace filelock::test::win;

namespace {

int helper(const std::vector<std::string>& args) {
  std::vector<std::string> argv{helper_exe()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv).status;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("win32: an exclusive lock keeps another process out until released") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path);
  {
    auto g = lock.acquire();
    CHECK(helper({"try", path, "exclusive"}) == 75);
    CHECK(helper({"try", path, "shared"}) == 75);
  }
  CHECK(helper({"try", path, "exclusive"}) == 0);
}

TEST_CASE("win32: shared locks coexist and keep an exclusive one out") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path);
  auto g = lock.acquire(lock_mode::shared);
  CHECK(helper({"try", path, "shared"}) == 0);
  CHECK(helper({"try", path, "exclusive"}) == 75);
}

TEST_CASE("win32: a held lock is seen by another process's try, not waited") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  CHECK_FALSE(lock.try_acquire().has_value());
  CHECK_FALSE(lock.try_acquire(lock_mode::shared).has_value());
}

TEST_CASE("win32: we and msvcrt.locking (Python's filelock) lock one byte") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  {
    file_lock lock(path);
    auto g = lock.acquire();
    CHECK(run({msvcrt_lock_exe(), "try", path}).status == 75);
    auto s = lock.acquire(lock_mode::exclusive);  // reentrant, still held
    CHECK(run({msvcrt_lock_exe(), "try", path}).status == 75);
  }
  CHECK(run({msvcrt_lock_exe(), "try", path}).status == 0);

  child python_like({msvcrt_lock_exe(), "hold", path, "5"});
  REQUIRE(python_like.wait_locked());
  file_lock lock(path);
  CHECK_FALSE(lock.try_acquire().has_value());
  CHECK_FALSE(lock.try_acquire(lock_mode::shared).has_value());
}

TEST_CASE(
    "win32: a missing file is created and an existing one never truncated") {
  temp_dir dir;
  const auto fresh = dir / "new.lock";
  const auto data = dir / "data.txt";
  std::ofstream(data, std::ios::binary) << "precious\n";
  file_lock a(fresh), b(data);
  {
    auto ga = a.acquire();
    auto gb = b.acquire();
    CHECK(std::filesystem::exists(fresh));
  }
  CHECK(std::filesystem::exists(fresh));
  CHECK(slurp(data) == "precious\n");
}

TEST_CASE("win32: the lock handle is not inheritable") {
  temp_dir dir;
  file_lock lock(dir / "x.lock");
  auto g = lock.acquire();
  DWORD flags = 0;
  auto h =
      reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(g.native_handle()));
  REQUIRE(GetHandleInformation(h, &flags));
  CHECK((flags & HANDLE_FLAG_INHERIT) == 0);
}

TEST_CASE("win32: try_acquire_for times out on a held lock, on time") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  const auto t0 = std::chrono::steady_clock::now();
  auto g = lock.try_acquire_for(300ms);
  const double took = seconds_since(t0);
  CHECK_FALSE(g.has_value());
  CHECK(took >= 0.29);
  CHECK(took < 3.0);
  const auto t1 = std::chrono::steady_clock::now();
  CHECK_FALSE(lock.try_acquire_for(300ms, lock_mode::shared).has_value());
  CHECK(seconds_since(t1) < 3.0);
}

TEST_CASE("win32: a waiter gets the lock when the holder releases") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "0.5"});
  REQUIRE(holder.wait_locked());
  file_lock lock(path);
  const auto t0 = std::chrono::steady_clock::now();
  auto g = lock.try_acquire_for(10s);
  CHECK(g.has_value());
  CHECK(seconds_since(t0) < 5.0);
  CHECK(holder.wait() == 0);
}

TEST_CASE("win32: a waiter gets the lock when the holder is killed") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "60"});
  REQUIRE(holder.wait_locked());
  std::thread killer([&] {
    std::this_thread::sleep_for(200ms);
    holder.kill();
  });
  file_lock lock(path);
  auto g = lock.try_acquire_for(20s);
  killer.join();
  CHECK(g.has_value());
}

TEST_CASE("win32: another thread can cancel a wait, which returns unlocked") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "10"});
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
  holder.kill();
  CHECK(helper({"try", path, "exclusive"}) == 0);
}

TEST_CASE("win32: two threads of one process exclude each other") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  file_lock lock(path);
  auto g = lock.acquire();
  std::atomic<bool> other_got{true};
  std::thread t([&] {
    file_lock mine(path);
    other_got = mine.try_acquire().has_value();
  });
  t.join();
  CHECK_FALSE(other_got.load());
}

TEST_CASE("win32: threads and processes incrementing a counter lose nothing") {
  temp_dir dir;
  const auto lock_path = dir / "x.lock";
  const auto counter = dir / "counter";
  std::ofstream(counter) << 0 << '\n';
  constexpr int kProcs = 3, kThreads = 3, kEach = 40;
  std::vector<std::unique_ptr<child>> procs;
  for (int i = 0; i < kProcs; ++i) {
    procs.push_back(std::make_unique<child>(std::vector<std::string>{
        helper_exe(), "count", lock_path, counter, std::to_string(kEach)}));
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

TEST_CASE("win32: readers share and writers exclude across processes") {
  temp_dir dir;
  const auto lock_path = dir / "rw.lock";
  const auto arena = dir / "arena";
  std::filesystem::create_directory(arena);
  std::vector<std::unique_ptr<child>> procs;
  for (int i = 0; i < 4; ++i) {
    procs.push_back(std::make_unique<child>(
        std::vector<std::string>{helper_exe(), "rw", lock_path, arena, "40"}));
  }
  for (auto& p : procs) CHECK(p->wait() == 0);
}

TEST_CASE("win32: a directory or a missing parent is an error, not busy") {
  temp_dir dir;
  std::filesystem::create_directory(dir.path() / "sub");
  file_lock a(dir / "sub");
  const auto t0 = std::chrono::steady_clock::now();
  auto r = a.acquire_until(std::chrono::steady_clock::now() + 5s,
                           lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == std::errc::is_a_directory);
  CHECK(seconds_since(t0) < 2.0);

  file_lock b(dir.path() / "missing" / "x.lock");
  auto rb = b.acquire_until(std::chrono::steady_clock::now() + 5s,
                            lock_mode::exclusive);
  CHECK(rb.status == acquire_status::failed);
  CHECK(rb.error == std::errc::no_such_file_or_directory);
  CHECK(rb.operation == "open");
}

TEST_CASE("win32: a device name is refused as not a regular file") {
  file_lock lock("NUL");
  auto r = lock.acquire_until(std::chrono::steady_clock::time_point::min(),
                              lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::not_a_regular_file);
}

TEST_CASE("win32: a symbolic link at the lock path is refused") {
  temp_dir dir;
  const auto target = dir.path() / "victim";
  const auto link = dir.path() / "link.lock";
  std::ofstream(target, std::ios::binary) << "victim\n";
  // Wine 8 answers CreateSymbolicLinkW with success and creates nothing.
  const bool made =
      CreateSymbolicLinkW(link.c_str(), target.c_str(),
                          SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE);
  const DWORD attrs = GetFileAttributesW(link.c_str());
  if (!made || attrs == INVALID_FILE_ATTRIBUTES ||
      !(attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
    MESSAGE("no symbolic links can be made here; not tested");
    return;
  }
  file_lock lock(link);
  auto r = lock.acquire_until(std::chrono::steady_clock::time_point::min(),
                              lock_mode::exclusive);
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == filelock::errc::symlink_refused);
  CHECK(slurp(target) == "victim\n");
}

TEST_CASE("win32: a path longer than MAX_PATH can be locked") {
  temp_dir dir;
  // Created through the \\?\ form, which has no MAX_PATH limit.
  std::wstring deep = L"\\\\?\\" + dir.path().wstring();
  for (int i = 0; i < 6; ++i) {
    deep += L"\\" + std::wstring(60, static_cast<wchar_t>(L'a' + i));
    REQUIRE(CreateDirectoryW(deep.c_str(), nullptr));
  }
  const auto plain = std::filesystem::path(deep.substr(4)) / "x.lock";
  REQUIRE(plain.native().size() > 300);
  file_lock lock(plain);
  auto g = lock.try_acquire();
  REQUIRE(g.has_value());
  CHECK(helper({"try", plain.string(), "exclusive"}) == 75);
  std::error_code ec;
  CHECK(g->is_intact(ec));
}

TEST_CASE("win32: a non-ASCII file name is locked under its own name") {
  temp_dir dir;
  const auto path =
      dir.path() / std::filesystem::path(u8"verrou-\u00e9\u4e2d.lock");
  file_lock lock(path);
  auto g = lock.try_acquire();
  REQUIRE(g.has_value());
  CHECK(std::filesystem::exists(path));
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    found =
        found || e.path().filename().wstring() == L"verrou-\u00e9\u4e2d.lock";
  }
  CHECK(found);
}

TEST_CASE("win32: a lock file replaced while we wait is not the one we get") {
  temp_dir dir;
  const auto path = dir / "x.lock";
  child holder({helper_exe(), "hold", path, "exclusive", "0.5"});
  REQUIRE(holder.wait_locked());
  std::thread replacer([&] {
    std::this_thread::sleep_for(100ms);
    // The holder's handle allows deletion (FILE_SHARE_DELETE), as ours do.
    std::filesystem::rename(path, dir / "old.lock");
    std::ofstream(path) << "";
  });
  file_lock lock(path);
  auto g = lock.try_acquire_for(10s);
  replacer.join();
  REQUIRE(g.has_value());
  std::error_code ec;
  CHECK(g->is_intact(ec));
  CHECK(helper({"try", path, "exclusive"}) == 75);
}

TEST_CASE("win32: a read-only lock file can still be locked") {
  temp_dir dir;
  const auto path = dir / "ro.lock";
  std::ofstream(path) << "";
  const std::wstring w = std::filesystem::path(path).wstring();
  REQUIRE(SetFileAttributesW(w.c_str(), FILE_ATTRIBUTE_READONLY));
  {
    file_lock lock(path);
    auto g = lock.try_acquire();
    CHECK(g.has_value());
    CHECK(helper({"try", path, "exclusive"}) == 75);
  }
  SetFileAttributesW(w.c_str(), FILE_ATTRIBUTE_NORMAL);
}
