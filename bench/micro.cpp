// Micro-benchmarks of the core, uncontended, next to the system calls they
// are built on, so that each figure reads as "so much over the floor".
//
//   floor/open_flock_close    open + flock(LOCK_EX) + close: the least any
//                             acquire + release of a lock file can cost
//   floor/flock_unlock_kept   flock(LOCK_EX) + flock(LOCK_UN) on a
//                             descriptor kept open (no open at all)
//   os/...                    filelock::file_lock with lock_kind::os
//   soft/acquire_release      lock_kind::soft (skipped where it is still
//                             served by the OS lock)
//   scale/*_held/N            acquire + release of one lock while the
//                             process holds N other locks
//
// Usage: filelock_micro [--dir=DIR] [Google Benchmark flags]
// Lock files go in a new directory under DIR (default /tmp), removed at
// the end.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "filelock/lock.hpp"

namespace {

std::string bench_dir = "/tmp";

std::string path_of(const std::string& name) {
  return bench_dir + "/micro-" + name;
}

int open_lock_file(const std::string& path) {
  return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
}

void floor_open_flock_close(benchmark::State& state) {
  const auto path = path_of("floor");
  for (auto _ : state) {
    const int fd = open_lock_file(path);
    ::flock(fd, LOCK_EX);
    ::close(fd);
  }
}

void floor_flock_unlock_kept(benchmark::State& state) {
  const int fd = open_lock_file(path_of("floor-kept"));
  for (auto _ : state) {
    ::flock(fd, LOCK_EX);
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
}

void os_acquire_release(benchmark::State& state) {
  filelock::file_lock lock(path_of("os"));
  for (auto _ : state) {
    auto held = lock.acquire();
    benchmark::DoNotOptimize(held);
  }
}

void os_try_acquire_release(benchmark::State& state) {
  filelock::file_lock lock(path_of("os-try"));
  for (auto _ : state) {
    auto held = lock.try_acquire();
    if (!held) state.SkipWithError("try_acquire found the lock busy");
  }
}

// A bounded wait that is never needed: the cost of carrying a deadline.
void os_acquire_for_release(benchmark::State& state) {
  filelock::file_lock lock(path_of("os-for"));
  for (auto _ : state) {
    auto held = lock.try_acquire_for(std::chrono::seconds(10));
    if (!held) state.SkipWithError("try_acquire_for timed out");
  }
}

void os_shared_acquire_release(benchmark::State& state) {
  filelock::file_lock lock(path_of("os-shared"));
  for (auto _ : state) {
    auto held = lock.acquire(filelock::lock_mode::shared);
    benchmark::DoNotOptimize(held);
  }
}

// The thread already holds the lock: each acquire only counts up.
void os_reentrant_acquire_release(benchmark::State& state) {
  filelock::file_lock lock(path_of("os-reentrant"));
  auto outer = lock.acquire();
  for (auto _ : state) {
    auto inner = lock.acquire();
    benchmark::DoNotOptimize(inner);
  }
}

void soft_acquire_release(benchmark::State& state) {
  const auto path = path_of("soft");
  filelock::lock_options options;
  options.kind = filelock::lock_kind::soft;
  filelock::file_lock lock(path, options);
  {
    // Until the soft backend lands, lock_kind::soft may be served by the
    // OS lock; measuring that under this name would mislead.
    auto probe = lock.acquire();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool is_os_lock = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    if (fd >= 0) ::close(fd);
    if (is_os_lock) {
      state.SkipWithError("lock_kind::soft is served by the OS lock here");
      return;
    }
  }
  for (auto _ : state) {
    auto held = lock.acquire();
    benchmark::DoNotOptimize(held);
  }
}

std::vector<std::string> held_paths(std::int64_t n) {
  std::vector<std::string> paths;
  for (std::int64_t i = 0; i < n; ++i) {
    paths.push_back(path_of("held-" + std::to_string(i)));
  }
  return paths;
}

void scale_os_held(benchmark::State& state) {
  std::vector<filelock::file_lock> locks;
  std::vector<filelock::guard> guards;
  for (const auto& p : held_paths(state.range(0))) {
    locks.emplace_back(p);
    guards.push_back(locks.back().acquire());
  }
  filelock::file_lock lock(path_of("scale-os"));
  for (auto _ : state) {
    auto held = lock.acquire();
    benchmark::DoNotOptimize(held);
  }
}

void scale_floor_held(benchmark::State& state) {
  std::vector<int> fds;
  for (const auto& p : held_paths(state.range(0))) {
    fds.push_back(open_lock_file(p));
    ::flock(fds.back(), LOCK_EX);
  }
  const auto path = path_of("scale-floor");
  for (auto _ : state) {
    const int fd = open_lock_file(path);
    ::flock(fd, LOCK_EX);
    ::close(fd);
  }
  for (int fd : fds) ::close(fd);
}

void register_all(std::int64_t max_held) {
  benchmark::RegisterBenchmark("floor/open_flock_close",
                               floor_open_flock_close);
  benchmark::RegisterBenchmark("floor/flock_unlock_kept",
                               floor_flock_unlock_kept);
  benchmark::RegisterBenchmark("os/acquire_release", os_acquire_release);
  benchmark::RegisterBenchmark("os/try_acquire_release",
                               os_try_acquire_release);
  benchmark::RegisterBenchmark("os/acquire_for_release",
                               os_acquire_for_release);
  benchmark::RegisterBenchmark("os/shared_acquire_release",
                               os_shared_acquire_release);
  benchmark::RegisterBenchmark("os/reentrant_acquire_release",
                               os_reentrant_acquire_release);
  benchmark::RegisterBenchmark("soft/acquire_release", soft_acquire_release);
  for (std::int64_t n : {0, 16, 256, 4096}) {
    if (n > max_held) break;
    benchmark::RegisterBenchmark("scale/os_held", scale_os_held)->Arg(n);
    benchmark::RegisterBenchmark("scale/floor_held", scale_floor_held)->Arg(n);
  }
}

// Holding thousands of locks needs as many descriptors; take what the hard
// limit allows and register only the sizes that fit.
std::int64_t raise_descriptor_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<std::int64_t>(lim.rlim_cur) - 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dir=", 6) == 0) {
      bench_dir = argv[i] + 6;
    } else {
      args.push_back(argv[i]);
    }
  }
  // Our files go in a directory of our own, which is all we remove at the
  // end: other people's files in /tmp (or --dir) are none of our business.
  std::string private_dir = bench_dir + "/filelock-micro.XXXXXX";
  if (::mkdtemp(private_dir.data()) == nullptr) {
    std::perror(("filelock_micro: mkdtemp in " + bench_dir).c_str());
    return 1;
  }
  bench_dir = private_dir;
  int n = static_cast<int>(args.size());
  register_all(raise_descriptor_limit());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::error_code ignored;
  std::filesystem::remove_all(private_dir, ignored);
  return 0;
}
