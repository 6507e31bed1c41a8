#include <atomic>
#include <memory>
#include <new>
#include <random>
#include <stdexcept>

#include "common.hpp"
#include "sections.hpp"

namespace bench {
namespace {

constexpr std::int64_t kMillisecond = 1'000'000;

std::unique_ptr<child> start_peer(const setup& s, impl which,
                                  const std::string& path) {
  if (is_python(which)) {
    return std::make_unique<child>(std::vector<std::string>{
        s.python, s.python_peer, which == impl::py_soft ? "soft" : "file",
        path});
  }
  return std::make_unique<child>(
      std::vector<std::string>{s.self, "peer", "--impl", flag(which), path});
}

// Reads "<tag> <nanoseconds>" from the peer.
std::int64_t expect(child& peer, char tag) {
  const std::string line = peer.read_line();
  if (line.size() < 3 || line[0] != tag || line[1] != ' ') {
    throw std::runtime_error("handoff peer said '" + line + "', expected '" +
                             std::string(1, tag) + " <ns>'");
  }
  return std::stoll(line.substr(2));
}

void expect_waiting(child& peer) {
  const std::string line = peer.read_line();
  if (line != "w") {
    throw std::runtime_error("handoff peer said '" + line + "', expected 'w'");
  }
}

}  // namespace

handoff_figures measure_handoff(const setup& s, impl which, std::string path) {
  // A poller finds the lock free at its next poll, so the release must land
  // at a random point of its poll period (50 ms for Python) or every sample
  // would show the same phase. Kernel waiters need only a settle time.
  const bool slow = polls(which) || which == impl::ours_soft;
  // An etcd waiter is asleep (in poll) long before it is queued: it first
  // grants a lease and creates its key over HTTP. 100 ms covers that on a
  // loaded machine, so the release finds it waiting on the watch.
  const bool remote = which == impl::ours_etcd;
  const int rounds = s.quick ? 10 : remote ? 40 : slow ? 60 : 300;
  const std::int64_t jitter = slow || remote ? 50 * kMillisecond : kMillisecond;
  const std::int64_t settle = remote ? 100 * kMillisecond : kMillisecond;
  std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<std::int64_t> pause(settle, settle + jitter);

  if (path.empty()) path = lock_path(s, "handoff-" + flag(which));
  auto a = start_peer(s, which, path);
  auto b = start_peer(s, which, path);
  a->send("a");
  expect_waiting(*a);
  expect(*a, 'h');

  std::vector<double> micros;
  const int warmup = 3;
  for (int i = 0; i < warmup + rounds; ++i) {
    b->send("a");
    expect_waiting(*b);
    // "w" is written just before the wait starts; asleep means it started.
    if (!wait_until_asleep(b->pid(), 1000 * kMillisecond)) {
      throw std::runtime_error(label(which) + ": waiter never went to sleep");
    }
    sleep_ns(pause(random));
    a->send("r");
    const auto released = expect(*a, 'r');
    const auto held = expect(*b, 'h');
    if (i >= warmup) {
      micros.push_back(static_cast<double>(held - released) / 1000.0);
    }
    std::swap(a, b);
  }
  a->send("r");
  expect(*a, 'r');
  a->finish();
  b->finish();
  return {which, summarize(std::move(micros))};
}

namespace {

constexpr std::uint32_t kMaxSamples = 4096;

struct waiters_shared {
  std::atomic<std::int64_t> released_at{0};
  std::atomic<std::uint64_t> generation{0};
  std::atomic<bool> stop{false};
  std::atomic<int> inside{0};
  std::atomic<bool> overlapped{false};
  std::atomic<std::uint32_t> count{0};
  std::uint32_t target = 0;
  double micros[kMaxSamples];
};

struct waiters_job {
  impl which;
  std::string path;
  waiters_shared* shared;
};

// Takes the lock, records how long after the previous release it got it,
// holds it long enough for every other process to be queued, releases, and
// queues again only once another process has taken it: so each sample is a
// handoff from one process to another with all the others waiting.
int waiter_loop(void* arg) {
  auto& job = *static_cast<waiters_job*>(arg);
  auto& sh = *job.shared;
  local_lock lock(job.which, job.path);
  for (;;) {
    lock.acquire();
    const auto held = now_ns();
    if (sh.inside.fetch_add(1) != 0) sh.overlapped = true;
    if (sh.stop) {
      sh.inside.fetch_sub(1);
      lock.release();
      return 0;
    }
    const auto mine = sh.generation.load() + 1;
    sh.generation.store(mine);
    const auto released = sh.released_at.load();
    if (released != 0) {
      const auto i = sh.count.fetch_add(1);
      if (i < sh.target) {
        sh.micros[i] = static_cast<double>(held - released) / 1000.0;
      } else {
        sh.stop = true;
      }
    }
    sleep_ns(500'000);
    sh.inside.fetch_sub(1);
    sh.released_at.store(now_ns());
    lock.release();
    while (sh.generation.load() == mine && !sh.stop) sleep_ns(10'000);
    if (sh.stop) return 0;
  }
}

}  // namespace

waiters_figures measure_waiters(const setup& s, impl which, int waiters) {
  auto* sh = new (shared_memory(sizeof(waiters_shared))) waiters_shared;
  sh->target = s.quick ? 40u : 300u;
  waiters_job job{which, lock_path(s, "waiters-" + flag(which)), sh};

  std::vector<pid_t> pids;
  for (int i = 0; i <= waiters; ++i) {
    pids.push_back(fork_child(waiter_loop, &job));
  }
  for (pid_t p : pids) reap(p, label(which) + " waiters");
  if (sh->overlapped) {
    throw std::runtime_error(label(which) + ": two processes held the lock");
  }
  const auto n = std::min(sh->count.load(), sh->target);
  std::vector<double> micros(sh->micros, sh->micros + n);
  return {which, waiters, summarize(std::move(micros))};
}

}  // namespace bench
