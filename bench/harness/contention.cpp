#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <new>
#include <stdexcept>

#include "common.hpp"
#include "sections.hpp"

namespace bench {
namespace {

constexpr int kMaxProcesses = 64;

struct per_process {
  std::uint64_t ops = 0;
  std::int64_t longest_wait_ns = 0;
  std::int64_t total_wait_ns = 0;
  std::uint64_t waits = 0;
};

struct contention_shared {
  std::atomic<bool> stop{false};
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  per_process results[kMaxProcesses];
};

struct contention_job {
  impl which;
  std::string path;
  int start[2];  // the start pipe: EOF on its read end means go
  contention_shared* shared;
  int index;
};

int contender_loop(void* arg) {
  auto& job = *static_cast<contention_job*>(arg);
  auto& sh = *job.shared;
  auto& mine = sh.results[job.index];
  local_lock lock(job.which, job.path);
  ::close(job.start[1]);
  char byte;
  while (::read(job.start[0], &byte, 1) < 0) {
  }

  for (;;) {
    const auto asked = now_ns();
    lock.acquire();
    const auto waited = now_ns() - asked;
    mine.longest_wait_ns = std::max(mine.longest_wait_ns, waited);
    mine.total_wait_ns += waited;
    ++mine.waits;
    if (sh.inside.fetch_add(1) != 0) sh.overlapped = true;
    const bool done = sh.stop.load();
    if (!done) ++mine.ops;
    sh.inside.fetch_sub(1);
    lock.release();
    if (done) return 0;
  }
}

}  // namespace

contention_figures measure_contention(const setup& s, impl which,
                                      int processes) {
  if (processes > kMaxProcesses) throw std::invalid_argument("processes");
  auto* sh = new (shared_memory(sizeof(contention_shared))) contention_shared;
  int start[2];
  if (pipe(start) != 0) throw std::runtime_error("pipe failed");

  std::vector<contention_job> jobs;
  jobs.reserve(static_cast<std::size_t>(processes));
  for (int i = 0; i < processes; ++i) {
    jobs.push_back({which,
                    lock_path(s, "contention-" + flag(which)),
                    {start[0], start[1]},
                    sh,
                    i});
  }
  std::vector<pid_t> pids;
  for (auto& job : jobs) pids.push_back(fork_child(contender_loop, &job));
  ::close(start[0]);
  // Let every child reach its read() before the start.
  sleep_ns(20'000'000);

  const auto started = now_ns();
  ::close(start[1]);
  sleep_ns(s.quick ? 200'000'000 : 700'000'000);
  sh->stop = true;
  const auto stopped = now_ns();
  for (pid_t p : pids) reap(p, label(which) + " contention");
  if (sh->overlapped) {
    throw std::runtime_error(label(which) + ": two processes held the lock");
  }

  contention_figures f{which, processes, 0, 0, 0};
  std::uint64_t ops = 0, waits = 0;
  std::int64_t total_wait = 0, longest = 0;
  for (int i = 0; i < processes; ++i) {
    ops += sh->results[i].ops;
    waits += sh->results[i].waits;
    total_wait += sh->results[i].total_wait_ns;
    longest = std::max(longest, sh->results[i].longest_wait_ns);
  }
  f.ops_per_second =
      static_cast<double>(ops) * 1e9 / static_cast<double>(stopped - started);
  f.longest_wait_ms = static_cast<double>(longest) / 1e6;
  f.mean_wait_us =
      waits ? static_cast<double>(total_wait) / static_cast<double>(waits) / 1e3
            : 0;
  return f;
}

}  // namespace bench
