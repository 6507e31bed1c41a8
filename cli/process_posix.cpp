#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "process.hpp"

extern char** environ;

namespace filelock::cli {
namespace {

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
int signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int signo, siginfo_t* info, void*) {
  const int saved = errno;
#if defined(__linux__) && defined(SI_KERNEL)
  // A terminal's ^C or ^\ goes to the whole foreground process group, so
  // the command already has it; sending it again would deliver it twice.
  if (signo != SIGCHLD && info != nullptr && info->si_code == SI_KERNEL) {
    errno = saved;
    return;
  }
#else
  (void)info;
#endif
  const unsigned char b = static_cast<unsigned char>(signo);
  (void)!write(signal_pipe[1], &b, 1);
  errno = saved;
}

struct saved_signals {
  struct sigaction actions[5];
  sigset_t mask;
};

sigset_t watched_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : kForwarded) sigaddset(&set, s);
  sigaddset(&set, SIGCHLD);
  return set;
}

// Blocks the watched signals and routes them into signal_pipe. Blocking
// first means none can arrive between fork() and the handlers being ready.
void watch_signals(saved_signals& saved) {
  sigset_t set = watched_set();
  sigprocmask(SIG_BLOCK, &set, &saved.mask);
  if (pipe(signal_pipe) == 0) {
    for (int fd : signal_pipe) {
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      fcntl(fd, F_SETFL, O_NONBLOCK);
    }
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  int i = 0;
  for (int s : kForwarded) sigaction(s, &sa, &saved.actions[i++]);
  sa.sa_flags |= SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, &saved.actions[i]);
}

void restore_signals(const saved_signals& saved) {
  int i = 0;
  for (int s : kForwarded) sigaction(s, &saved.actions[i++], nullptr);
  sigaction(SIGCHLD, &saved.actions[i], nullptr);
  sigprocmask(SIG_SETMASK, &saved.mask, nullptr);
}

// The command's environment: ours with the spec's NAME=VALUE entries put
// over it, made before fork(). Between fork() and exec() a child of a
// threaded process (etcd's lease thread) may only make async-signal-safe
// calls, and setenv() allocates: under AddressSanitizer it spun forever on
// an allocator lock that another thread held at the fork.
class child_environment {
 public:
  explicit child_environment(const std::vector<std::string>& overrides) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) put(*e);
    for (const auto& kv : overrides) put(kv);
    for (auto& kv : entries_) pointers_.push_back(kv.data());
    pointers_.push_back(nullptr);
  }

  // Async-signal-safe: only a pointer is stored. execvp() then passes it
  // on, and searches PATH as it is in it.
  void install() noexcept { environ = pointers_.data(); }

 private:
  static std::string_view name_of(std::string_view kv) {
    return kv.substr(0, kv.find('='));
  }

  void put(std::string_view kv) {
    for (auto& e : entries_) {
      if (name_of(e) == name_of(kv)) {
        e = kv;
        return;
      }
    }
    entries_.emplace_back(kv);
  }

  std::vector<std::string> entries_;
  std::vector<char*> pointers_;
};

std::vector<char*> argv_of(const child_spec& spec) {
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// Waits for run_child's go-ahead (see child_spec::on_started); false when
// filelock died or cancelled the start instead (EOF). Async-signal-safe.
bool wait_for_go(int go_fd) {
  char b = 0;
  ssize_t n;
  do {
    n = read(go_fd, &b, 1);
  } while (n < 0 && errno == EINTR);
  close(go_fd);
  return n == 1;
}

// In the child, between fork() and exec(): only async-signal-safe calls.
[[noreturn]] void exec_child(const child_spec& spec, char* const* argv,
                             pid_t parent, const saved_signals& saved,
                             int report_fd, int go_fd) {
  if (go_fd >= 0 && !wait_for_go(go_fd)) _exit(127);
#if defined(__linux__)
  // If filelock dies, its lock dies with it; the command must not run on
  // unlocked. The check after prctl closes the race of a parent that died
  // before the request was in place.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
#else
  (void)parent;
  // No guardian here: if filelock is killed, the command keeps the lock
  // instead of running on without it.
  if (spec.lock_fd >= 0) fcntl(spec.lock_fd, F_SETFD, 0);
#endif
  if (spec.inherit_fd >= 0) fcntl(spec.inherit_fd, F_SETFD, 0);
  restore_signals(saved);
  execvp(argv[0], argv);
  const int err = errno;
  (void)!write(report_fd, &err, sizeof err);
  _exit(127);
}

#if defined(__linux__)
// Sent by filelock to the guardian: kill the command's whole tree now. A
// SIGKILL of the guardian itself would kill only the command (by its
// parent-death signal) and leave what it started running unlocked.
constexpr int kKillTree = SIGUSR1;

// The guardian is a forked child of a process that may have threads (etcd's
// lease thread), so until it exits it may only make async-signal-safe
// calls: an allocator lock held by another thread at the fork would hang
// it, and the command with it. Hence no opendir, no streams, no strings:
// raw getdents64 and read into fixed buffers.
struct proc_link {
  pid_t pid;
  pid_t ppid;
};
// Static, so touched only in the guardian. A table that overflows leaves
// the rest for the next sweep, which sweep_tree runs until nothing is left.
proc_link proc_links[1 << 15];

// The parent pid in /proc/PID/stat ("pid (comm) state ppid ..."; comm may
// hold spaces and parentheses, so read from the last ')'); 0 if unreadable.
pid_t ppid_from_proc(const char* pid_name) {
  char path[64] = "/proc/";
  std::size_t n = std::strlen(path);
  for (const char* c = pid_name; *c != '\0' && n < sizeof path - 6; ++c) {
    path[n++] = *c;
  }
  std::memcpy(path + n, "/stat", 6);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  const ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0) return 0;
  buf[got] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr) return 0;
  const char* p = close_paren + 1;
  while (*p == ' ') ++p;
  while (*p != '\0' && *p != ' ') ++p;  // the state
  while (*p == ' ') ++p;
  pid_t ppid = 0;
  for (; *p >= '0' && *p <= '9'; ++p) ppid = ppid * 10 + (*p - '0');
  return ppid;
}

void kill_descendants(pid_t root) {
  std::size_t count = 0;
  const int dir = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    alignas(8) char buf[8192];
    ssize_t got;
    while (count < std::size(proc_links) &&
           (got = getdents64(dir, buf, sizeof buf)) > 0) {
      for (ssize_t off = 0; off < got && count < std::size(proc_links);) {
        const auto* e = reinterpret_cast<const dirent64*>(buf + off);
        off += e->d_reclen;
        pid_t pid = 0;
        const char* c = e->d_name;
        for (; *c >= '0' && *c <= '9'; ++c) pid = pid * 10 + (*c - '0');
        if (*c != '\0' || pid <= 0) continue;
        proc_links[count++] = {pid, ppid_from_proc(e->d_name)};
      }
    }
    close(dir);
  }
  auto ppid = [count](pid_t pid) {
    for (std::size_t i = 0; i < count; ++i) {
      if (proc_links[i].pid == pid) return proc_links[i].ppid;
    }
    return pid_t{0};
  };
  for (std::size_t i = 0; i < count; ++i) {
    pid_t up = proc_links[i].ppid;
    for (int depth = 0; up > 1 && depth < 4096; ++depth, up = ppid(up)) {
      if (up == root) {
        kill(proc_links[i].pid, SIGKILL);
        break;
      }
    }
  }
}

// Kills everything below the guardian and reaps it. As child subreaper the
// guardian inherits every orphan of the tree, so once it has no children
// left, nothing the command started is still running.
void sweep_tree() {
  const pid_t me = getpid();
  for (;;) {
    kill_descendants(me);
    const pid_t r = waitpid(-1, nullptr, 0);
    if (r < 0 && errno == ECHILD) return;
  }
}

// Ends the guardian the way the command ended, so that filelock's wait sees
// the command's own status.
[[noreturn]] void exit_like(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    sigprocmask(SIG_UNBLOCK, &only, nullptr);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WEXITSTATUS(status));
}

// The guardian: the process between filelock and the command. It shares
// filelock's lock descriptor (fork keeps it; it never execs), relays the
// signals filelock forwards, and when filelock dies (EOF on life_fd)
// kills the command's whole tree before it exits and so frees the lock.
[[noreturn]] void guard_command(const child_spec& spec, char* const* argv,
                                const saved_signals& saved, int report_fd,
                                int life_fd, int go_fd) {
  if (go_fd >= 0 && !wait_for_go(go_fd)) _exit(127);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  for (int& fd : signal_pipe) close(fd);
  if (pipe(signal_pipe) != 0) _exit(127);
  for (int fd : signal_pipe) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, O_NONBLOCK);
  }
  struct sigaction sa {};
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(kKillTree, &sa, nullptr);

  const pid_t me = getpid();
  const pid_t command = fork();
  if (command == 0) {
    close(life_fd);
    signal(kKillTree, SIG_DFL);
    exec_child(spec, argv, me, saved, report_fd, -1);
  }
  if (command < 0) {
    const int err = errno;
    (void)!write(report_fd, &err, sizeof err);
    _exit(127);
  }
  close(report_fd);
  sigset_t set = watched_set();
  sigaddset(&set, kKillTree);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);

  for (;;) {
    pollfd fds[2] = {{signal_pipe[0], POLLIN, 0}, {life_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    char ignored;
    if (fds[1].revents != 0 && read(life_fd, &ignored, 1) <= 0) {
      sweep_tree();
      _exit(128 + SIGKILL);
    }
    unsigned char sigs[64];
    const ssize_t n = read(signal_pipe[0], sigs, sizeof sigs);
    for (ssize_t i = 0; i < n; ++i) {
      if (sigs[i] == kKillTree) {
        sweep_tree();
        _exit(128 + SIGKILL);
      }
      if (sigs[i] != SIGCHLD) {
        kill(command, sigs[i]);
        continue;
      }
      int status = 0;
      pid_t r;
      while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
        if (r == command) exit_like(status);
      }
    }
  }
}
#endif

// Reads the errno a failed exec() sent back; 0 when exec() succeeded (the
// close-on-exec pipe closed with nothing written).
int read_start_error(int fd) {
  int err = 0;
  ssize_t n;
  do {
    n = read(fd, &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

using std::chrono::steady_clock;

// Milliseconds from now until `when`, for poll(): -1 when there is no
// `when`.
int poll_ms(std::optional<steady_clock::time_point> when) {
  if (!when) return -1;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(*when - steady_clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 1 << 30));
}

// The next moment wait_for must act without a signal: a tick, the runtime
// limit, or the SIGKILL after the grace.
class child_clock {
 public:
  explicit child_clock(const child_spec& spec) : spec_(spec) {
    const auto now = steady_clock::now();
    if (ticking()) next_tick_ = now + spec.tick_interval;
    if (spec.max_runtime.count() > 0) deadline_ = now + spec.max_runtime;
  }

  std::optional<steady_clock::time_point> next() const {
    std::optional<steady_clock::time_point> n;
    auto earliest = [&n](steady_clock::time_point t) {
      if (!n || t < *n) n = t;
    };
    if (ticking()) earliest(next_tick_);
    if (limited() && !terminated_) earliest(deadline_);
    if (terminated_ && !killed_ && spec_.kill_after.count() > 0) {
      earliest(terminated_at_ + spec_.kill_after);
    }
    return n;
  }

  // What is due now: ticks, SIGTERM, SIGKILL (of the tree, on Linux).
  void act(pid_t child, child_result& result) {
    const auto now = steady_clock::now();
    if (ticking() && now >= next_tick_) {
      next_tick_ = now + spec_.tick_interval;
      if (!spec_.on_tick()) terminate(child, now);
    }
    if (limited() && now >= deadline_ && !terminated_) {
      result.timed_out = true;
      terminate(child, now);
    }
    if (terminated_ && !killed_ && spec_.kill_after.count() > 0 &&
        now >= terminated_at_ + spec_.kill_after) {
#if defined(__linux__)
      kill(child, kKillTree);
#else
      kill(child, SIGKILL);
#endif
      killed_ = true;
    }
  }

 private:
  // A plain time point rather than std::optional: GCC 12 at -O2 warns
  // that an optional's value may be read uninitialized here.
  bool limited() const {
    return deadline_ != steady_clock::time_point::max();
  }

  bool ticking() const {
    return spec_.on_tick && spec_.tick_interval.count() > 0;
  }

  void terminate(pid_t child, steady_clock::time_point now) {
    if (terminated_) return;
    kill(child, SIGTERM);
    terminated_ = true;
    terminated_at_ = now;
  }

  const child_spec& spec_;
  steady_clock::time_point next_tick_{};
  steady_clock::time_point deadline_ = steady_clock::time_point::max();
  bool terminated_ = false;
  bool killed_ = false;
  steady_clock::time_point terminated_at_{};
};

child_result wait_for(pid_t child, const child_spec& spec) {
  child_result result;
  child_clock clock(spec);
  for (;;) {
    pollfd p{signal_pipe[0], POLLIN, 0};
    int status = 0;
    const pid_t r = waitpid(child, &status, WNOHANG);
    if (r == child) {
      if (WIFSIGNALED(status)) {
        result.status = child_result::how::signalled;
        result.code = WTERMSIG(status);
      } else {
        result.code = WEXITSTATUS(status);
      }
      return result;
    }
    if (poll(&p, 1, poll_ms(clock.next())) < 0 && errno != EINTR) {
      return result;
    }
    clock.act(child, result);
    unsigned char sigs[64];
    const ssize_t n = read(signal_pipe[0], sigs, sizeof sigs);
    for (ssize_t i = 0; i < n; ++i) {
      if (sigs[i] != SIGCHLD) kill(child, sigs[i]);
    }
  }
}

}  // namespace

child_result run_child(const child_spec& spec) {
  auto argv = argv_of(spec);
  child_environment env(spec.env);
  saved_signals saved{};
  watch_signals(saved);

  int report[2];
  if (pipe(report) != 0) {
    const int err = errno;
    restore_signals(saved);
    return {child_result::how::not_started, 0, err};
  }
  for (int fd : report) fcntl(fd, F_SETFD, FD_CLOEXEC);
#if defined(__linux__)
  // The guardian learns of our death by EOF: only we hold the write end.
  int life[2];
  if (pipe(life) != 0) {
    const int err = errno;
    close(report[0]);
    close(report[1]);
    restore_signals(saved);
    return {child_result::how::not_started, 0, err};
  }
  for (int fd : life) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  // The process that could outlive us must be on record before the
  // command starts: it waits for a byte on `go`.
  int go[2] = {-1, -1};
  int start_error = 0;
  if (spec.on_started && pipe(go) != 0) start_error = errno;
  for (int fd : go) {
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  const pid_t parent = getpid();
  const pid_t child = start_error != 0 ? -1 : fork();
  if (child < 0 && start_error == 0) start_error = errno;
  if (child == 0) {
    close(report[0]);
    if (go[1] >= 0) close(go[1]);
    env.install();
#if defined(__linux__)
    close(life[1]);
    guard_command(spec, argv.data(), saved, report[1], life[0], go[0]);
#else
    exec_child(spec, argv.data(), parent, saved, report[1], go[0]);
#endif
  }
#if defined(__linux__)
  close(life[0]);
  // life[1] stays open, unused, until we exit: its closing is the message.
  (void)parent;
#endif
  close(report[1]);
  if (go[0] >= 0) close(go[0]);
  if (child > 0 && spec.on_started) {
    if (spec.on_started(child, start_error)) {
      (void)!write(go[1], "g", 1);
    } else if (start_error == 0) {
      start_error = EIO;
    }
  }
  if (go[1] >= 0) close(go[1]);
  if (start_error != 0) {
    // It gives up at the EOF on `go` without starting anything.
    if (child > 0) waitpid(child, nullptr, 0);
#if defined(__linux__)
    close(life[1]);
#endif
    close(report[0]);
    restore_signals(saved);
    for (int& fd : signal_pipe) {
      close(fd);
      fd = -1;
    }
    return {child_result::how::not_started, 0, start_error};
  }

  sigset_t set = watched_set();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  start_error = read_start_error(report[0]);
  close(report[0]);
  child_result result = wait_for(child, spec);
#if defined(__linux__)
  close(life[1]);
#endif
  if (start_error != 0) {
    result = {child_result::how::not_started, 0, start_error};
  }
  restore_signals(saved);
  for (int& fd : signal_pipe) {
    close(fd);
    fd = -1;
  }
  return result;
}

std::vector<std::string> shell_argv(const std::string& command) {
  return {"/bin/sh", "-c", command};
}

std::vector<std::string> user_shell_argv(const std::string& command) {
  const char* shell = std::getenv("SHELL");
  if (shell == nullptr || *shell == '\0') return shell_argv(command);
  return {shell, "-c", command};
}

int exec_in_place(const child_spec& spec) {
  auto argv = argv_of(spec);
  child_environment env(spec.env);
  char** const ours = environ;
  env.install();
  if (spec.inherit_fd >= 0) fcntl(spec.inherit_fd, F_SETFD, 0);
  execvp(argv[0], argv.data());
  const int err = errno;
  environ = ours;  // env's strings go with it
  return err;
}

std::string file_key(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

std::string file_key_of_path(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return {};
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

namespace {

std::int64_t parent_of(std::int64_t pid) {
#if defined(__linux__)
  // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and
  // parentheses, so read from the last ')'.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  std::int64_t ppid = 0;
  rest >> state >> ppid;
  return ppid;
#else
  return pid == getpid() ? getppid() : 0;
#endif
}

}  // namespace

std::vector<std::string> utf8_arguments(int argc, char** argv) {
  return {argv + std::min(argc, 1), argv + argc};
}

// POSIX paths are bytes: kept as given, whatever their encoding.
std::filesystem::path utf8_path(const std::string& text) {
  return text;
}

std::int64_t current_pid() {
  return getpid();
}

std::int64_t parent_pid() {
  return getppid();
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

bool is_ancestor(std::int64_t pid) {
  std::int64_t p = getpid();
  for (int depth = 0; depth < 4096 && p > 1; ++depth) {
    p = parent_of(p);
    if (p == pid) return true;
  }
  return false;
}

}  // namespace filelock::cli
