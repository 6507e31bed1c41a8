// Shared pieces of the process-level harness: the clock every process
// agrees on, summaries of samples, child processes driven over pipes, and
// the lock implementations under test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace bench {

// CLOCK_MONOTONIC in nanoseconds. It is one clock for the whole machine, so
// a release stamped in one process and a grant stamped in another subtract.
std::int64_t now_ns() noexcept;

void sleep_ns(std::int64_t ns) noexcept;

struct summary {
  std::size_t count = 0;
  double median = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

// Nearest-rank percentiles; an empty input gives all zeros.
summary summarize(std::vector<double> samples);

// The lock implementations the harness knows how to drive. `ours_*` go
// through filelock::file_lock; `raw_flock` is open + flock(2) + close by
// hand, `raw_flock_kept` the same on one descriptor opened once,
// `raw_flock_lstat` adds the lstat(2) of the path that the library makes
// after each grant (to notice a lock file replaced while it waited); `py_*`
// are Python's filelock in a python3 process. `ours_etcd` is file_lock on
// an etcd name (the path is then etcd://HOST:PORT/NAME). `ours_os_fair`
// is the OS lock with lock_options::fair.
enum class impl {
  ours_os,
  ours_soft,
  ours_etcd,
  raw_flock,
  raw_flock_kept,
  raw_flock_lstat,
  py_file,
  py_soft,
  ours_os_fair
};

std::string label(impl which);
// The name of a local implementation on the peer command line, and back.
std::string flag(impl which);
impl parse_impl(const std::string& name);
bool is_python(impl which);
// Python's locks find a released lock only at their next poll.
bool polls(impl which);

// A lock of one implementation in this process. Opens nothing until
// acquire(); release() stamps nothing, callers stamp around it.
class local_lock {
 public:
  local_lock(impl which, std::string path);
  ~local_lock();
  local_lock(const local_lock&) = delete;
  local_lock& operator=(const local_lock&) = delete;

  void acquire();
  void release();

 private:
  struct state;
  state* s_;
};

// A child process with its stdin and stdout on pipes, speaking a line
// protocol. Lines it writes are read with read_line(); a child that dies
// makes read_line() throw.
class child {
 public:
  explicit child(const std::vector<std::string>& argv);
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  void send(const std::string& line);
  std::string read_line();
  // Closes stdin and reaps the child; returns its wait status.
  int finish();

 private:
  pid_t pid_ = -1;
  int to_ = -1;
  int from_ = -1;
  std::string buffered_;
};

// Waits until `pid` is asleep (state S or D in /proc/PID/stat), which for a
// process that just announced it is about to wait means it is waiting.
// Gives up after `limit_ns` and returns false.
bool wait_until_asleep(pid_t pid, std::int64_t limit_ns);

// Anonymous shared memory that forked children see too. Never freed: the
// harness maps a handful of small regions per run.
void* shared_memory(std::size_t bytes);

// Forks a child that runs `body` and exits with its return value.
pid_t fork_child(int (*body)(void*), void* arg);
// Reaps `pid`; throws if it did not exit with status 0.
void reap(pid_t pid, const std::string& what);

// Everything a section needs to know about where to run.
struct setup {
  std::string dir;          // holds the lock files
  std::string self;         // this program, for peers
  std::string filelock;     // the filelock program
  std::string python;       // a python3 with the filelock module
  std::string python_peer;  // bench/peer.py
  bool quick = false;       // fewer samples, for a smoke run
  // Sections to run (micro, handoff, overhead, contention, waiters); empty
  // runs them all.
  std::vector<std::string> only;
  bool soft_available = false;
  // etcd and etcdctl for the etcd section; empty: not found, skipped.
  std::string etcd;
  std::string etcdctl;
};

std::string lock_path(const setup& s, const std::string& name);
bool wanted(const setup& s, const std::string& section);

// The full path of a program found on PATH, or empty.
std::string find_on_path(const std::string& name);

// The first line of /proc/loadavg without its last two fields.
std::string load_average();

}  // namespace bench
