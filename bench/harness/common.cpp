#include "common.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "filelock/lock.hpp"

namespace bench {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

double nearest_rank(const std::vector<double>& sorted, double fraction) {
  const auto n = static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(fraction * n));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

}  // namespace

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ns(std::int64_t ns) noexcept {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000),
              static_cast<long>(ns % 1'000'000'000)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

summary summarize(std::vector<double> samples) {
  summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  s.median = nearest_rank(samples, 0.5);
  s.p99 = nearest_rank(samples, 0.99);
  s.max = samples.back();
  double total = 0;
  for (double x : samples) total += x;
  s.mean = total / static_cast<double>(samples.size());
  return s;
}

std::string label(impl which) {
  switch (which) {
    case impl::ours_os:
      return "filelock OS lock";
    case impl::ours_soft:
      return "filelock soft lock";
    case impl::ours_etcd:
      return "filelock etcd lock";
    case impl::raw_flock:
      return "raw flock(2)";
    case impl::raw_flock_kept:
      return "raw flock(2), descriptor kept open";
    case impl::raw_flock_lstat:
      return "raw flock(2) + lstat(2) after the grant";
    case impl::py_file:
      return "Python filelock.FileLock";
    case impl::py_soft:
      return "Python filelock.SoftFileLock";
    case impl::ours_os_fair:
      return "filelock OS lock, fair";
  }
  return "?";
}

std::string flag(impl which) {
  switch (which) {
    case impl::ours_os:
      return "os";
    case impl::ours_soft:
      return "soft";
    case impl::ours_etcd:
      return "etcd";
    case impl::raw_flock:
      return "flock";
    case impl::raw_flock_kept:
      return "flock-kept";
    case impl::raw_flock_lstat:
      return "flock-lstat";
    case impl::py_file:
      return "py-file";
    case impl::py_soft:
      return "py-soft";
    case impl::ours_os_fair:
      return "os-fair";
  }
  return "?";
}

impl parse_impl(const std::string& name) {
  for (impl i : {impl::ours_os, impl::ours_soft, impl::ours_etcd,
                 impl::raw_flock, impl::raw_flock_kept, impl::raw_flock_lstat,
                 impl::py_file, impl::py_soft, impl::ours_os_fair}) {
    if (flag(i) == name) return i;
  }
  throw std::invalid_argument("unknown implementation '" + name + "'");
}

bool is_python(impl which) {
  return which == impl::py_file || which == impl::py_soft;
}

bool polls(impl which) {
  return is_python(which);
}

struct local_lock::state {
  impl which;
  std::string path;
  std::optional<filelock::file_lock> lock;
  filelock::guard held;
  int fd = -1;
};

local_lock::local_lock(impl which, std::string path)
    : s_(new state{which, std::move(path), std::nullopt, {}, -1}) {
  if (which == impl::ours_os || which == impl::ours_soft ||
      which == impl::ours_etcd || which == impl::ours_os_fair) {
    filelock::lock_options o;
    o.kind = which == impl::ours_soft ? filelock::lock_kind::soft
                                      : filelock::lock_kind::os;
    o.fair = which == impl::ours_os_fair;
    s_->lock.emplace(s_->path, o);
  } else if (is_python(which)) {
    throw std::logic_error("local_lock: " + label(which) + " is not local");
  }
}

local_lock::~local_lock() {
  if (s_->fd >= 0) ::close(s_->fd);
  delete s_;
}

void local_lock::acquire() {
  if (s_->lock) {
    s_->held = s_->lock->acquire();
    return;
  }
  // raw_flock opens its own description each time, as the library does,
  // so that comparison is like for like; raw_flock_kept is the floor.
  if (s_->fd < 0) {
    s_->fd = ::open(s_->path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  }
  if (s_->fd < 0) fail("open " + s_->path);
  while (::flock(s_->fd, LOCK_EX) != 0) {
    if (errno != EINTR) fail("flock " + s_->path);
  }
  if (s_->which == impl::raw_flock_lstat) {
    struct stat st {};
    if (::lstat(s_->path.c_str(), &st) != 0) fail("lstat " + s_->path);
  }
}

void local_lock::release() {
  if (s_->lock) {
    s_->held.release();
    return;
  }
  ::flock(s_->fd, LOCK_UN);
  if (s_->which != impl::raw_flock_kept) {
    ::close(s_->fd);
    s_->fd = -1;
  }
}

child::child(const std::vector<std::string>& argv) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) fail("pipe");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_ = fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = out[0];
}

child::~child() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    finish();
  }
}

void child::send(const std::string& line) {
  const std::string data = line + "\n";
  if (::write(to_, data.data(), data.size()) !=
      static_cast<ssize_t>(data.size())) {
    fail("write to peer");
  }
}

std::string child::read_line() {
  for (;;) {
    auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    char buf[256];
    ssize_t n = ::read(from_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw std::runtime_error("peer " + std::to_string(pid_) + " went away");
    }
    buffered_.append(buf, static_cast<std::size_t>(n));
  }
}

int child::finish() {
  if (to_ >= 0) ::close(to_);
  if (from_ >= 0) ::close(from_);
  to_ = from_ = -1;
  int status = 0;
  while (pid_ > 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

bool wait_until_asleep(pid_t pid, std::int64_t limit_ns) {
  const auto until = now_ns() + limit_ns;
  const std::string stat = "/proc/" + std::to_string(pid) + "/stat";
  while (now_ns() < until) {
    std::ifstream in(stat);
    std::string line;
    std::getline(in, line);
    // The command name may hold spaces and parentheses; the state is the
    // first field after the last ')'.
    auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size()) {
      const char state = line[close + 2];
      if (state == 'S' || state == 'D') return true;
    }
    sleep_ns(20'000);
  }
  return false;
}

void* shared_memory(std::size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fail("mmap");
  return p;
}

pid_t fork_child(int (*body)(void*), void* arg) {
  const pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    int rc = 1;
    try {
      rc = body(arg);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "filelock_bench: child: %s\n", e.what());
    }
    _exit(rc);
  }
  return pid;
}

void reap(pid_t pid, const std::string& what) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) fail("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(what + ": a child process failed (status " +
                             std::to_string(status) + ")");
  }
}

std::string lock_path(const setup& s, const std::string& name) {
  return s.dir + "/" + name;
}

bool wanted(const setup& s, const std::string& section) {
  return s.only.empty() ||
         std::find(s.only.begin(), s.only.end(), section) != s.only.end();
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const auto dir = dirs.substr(start, end - start);
    const auto candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

}  // namespace bench
