// The etcd section (issue #9): filelock's etcd backend next to `etcdctl
// lock` on one private etcd, started here on free loopback ports the way
// tests/etcd/support.cpp starts the test suite's, and stopped by its pid.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "common.hpp"
#include "sections.hpp"

namespace bench {
namespace {

constexpr std::int64_t kMillisecond = 1'000'000;

int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) ::close(s);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

// Starts argv with its stdin, stdout and stderr on the given descriptors,
// which it closes here.
pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  for (int fd : {in, out, err}) {
    if (fd > 2) ::close(fd);
  }
  return pid;
}

// Runs argv with stdout and stderr on /dev/null; returns its exit status,
// or -1 when it did not exit normally.
int run_quietly(const std::vector<std::string>& argv) {
  const pid_t pid = spawn(argv, ::open("/dev/null", O_RDONLY | O_CLOEXEC),
                          ::open("/dev/null", O_WRONLY | O_CLOEXEC),
                          ::open("/dev/null", O_WRONLY | O_CLOEXEC));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string first_line_of(const std::string& command) {
  std::string line;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) line = buf;
    ::pclose(p);
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.pop_back();
  }
  return line;
}

// A RAM-backed directory when there is one: etcd fsyncs its log on every
// write, and on this kind of VM an fsync takes milliseconds, which would
// measure the disk rather than the clients.
std::string data_parent(const setup& s) {
  if (::access("/dev/shm", W_OK) == 0) return "/dev/shm";
  return s.dir;
}

class etcd_server {
 public:
  etcd_server(const setup& s) : etcdctl_(s.etcdctl) {
    std::string templ = data_parent(s) + "/filelock-bench-etcd-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      throw std::runtime_error("cannot create a directory for etcd");
    }
    dir_ = templ;
    // Two free ports taken one after the other may race with another
    // program; a server that does not come up is retried on new ports.
    for (int tries = 0; tries < 3 && pid_ < 0; ++tries) {
      url_ = "http://127.0.0.1:" + std::to_string(free_port());
      const auto peer = "http://127.0.0.1:" + std::to_string(free_port());
      start(s.etcd, peer, tries);
      if (!wait_healthy()) stop();
    }
    if (pid_ < 0) {
      throw std::runtime_error("etcd did not start; see " + dir_ + "/etcd.log");
    }
  }
  ~etcd_server() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  etcd_server(const etcd_server&) = delete;
  etcd_server& operator=(const etcd_server&) = delete;

  const std::string& url() const { return url_; }
  std::string hostport() const { return url_.substr(7); }
  const std::string& dir() const { return dir_; }

 private:
  void start(const std::string& etcd, const std::string& peer, int tries) {
    const std::vector<std::string> argv = {
        etcd,
        "--name",
        "default",
        "--data-dir",
        dir_ + "/data" + std::to_string(tries),
        "--listen-client-urls",
        url_,
        "--advertise-client-urls",
        url_,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        "default=" + peer,
        "--heartbeat-interval",
        "10",
        "--election-timeout",
        "50"};
    const auto log = dir_ + "/etcd.log";
    const int out =
        ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) throw std::runtime_error("cannot create " + log);
    pid_ =
        spawn(argv, ::open("/dev/null", O_RDONLY | O_CLOEXEC), out, ::dup(out));
  }

  bool wait_healthy() {
    const auto until = now_ns() + 15'000 * kMillisecond;
    while (now_ns() < until) {
      if (run_quietly({etcdctl_, "--endpoints=" + url_, "--command-timeout=1s",
                       "endpoint", "health"}) == 0) {
        return true;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      sleep_ns(50 * kMillisecond);
    }
    return false;
  }

  void stop() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGTERM);
    const auto until = now_ns() + 5'000 * kMillisecond;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0 && now_ns() < until) {
      sleep_ns(10 * kMillisecond);
    }
    if (::kill(pid_, 0) == 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }

  std::string etcdctl_;
  std::string dir_;
  std::string url_;
  pid_t pid_ = -1;
};

// `etcdctl lock NAME` prints the key once it holds the lock and keeps it
// until SIGTERM (or SIGINT), when it deletes the key. The release is
// stamped just before the signal, the grant when the waiter's line has
// been read here: unlike the filelock peer, which stamps inside its own
// process, this includes a signal delivery and a pipe read, tens of
// microseconds against the milliseconds of a round trip to etcd.
summary etcdctl_handoff(const setup& s, const etcd_server& server) {
  const int rounds = s.quick ? 5 : 40;
  const std::vector<std::string> argv = {
      s.etcdctl, "--endpoints=" + server.url(), "lock", "bench/handoff-ctl"};
  std::mt19937_64 random{std::random_device{}()};
  // etcdctl is a Go program that needs tens of milliseconds to start,
  // connect and queue its key; 300 ms leaves it waiting on its watch.
  std::uniform_int_distribution<std::int64_t> pause(300 * kMillisecond,
                                                    350 * kMillisecond);
  auto holder = std::make_unique<child>(argv);
  holder->read_line();
  std::vector<double> micros;
  const int warmup = 2;
  for (int i = 0; i < warmup + rounds; ++i) {
    auto waiter = std::make_unique<child>(argv);
    sleep_ns(pause(random));
    const auto released = now_ns();
    ::kill(holder->pid(), SIGTERM);
    waiter->read_line();
    const auto held = now_ns();
    holder->finish();
    if (i >= warmup) {
      micros.push_back(static_cast<double>(held - released) / 1000.0);
    }
    holder = std::move(waiter);
  }
  ::kill(holder->pid(), SIGTERM);
  holder->finish();
  return summarize(std::move(micros));
}

}  // namespace

etcd_figures measure_etcd(const setup& s) {
  etcd_figures f;
  if (s.etcd.empty() || s.etcdctl.empty()) {
    f.skipped = std::string("no ") + (s.etcd.empty() ? "etcd" : "etcdctl") +
                " program on PATH (Debian: etcd-server, etcd-client)";
    return f;
  }
  f.version = first_line_of("'" + s.etcd + "' --version 2>/dev/null");
  // "etcd Version: 3.4.23" (3.4 and 3.5 print it so).
  if (const auto at = f.version.find(" Version: "); at != std::string::npos) {
    f.version.replace(at, 10, " ");
  }
  etcd_server server(s);
  f.data_dir = server.dir() + " (" +
               first_line_of("stat -f -c %T '" + server.dir() + "'") + ")";
  const auto name = "etcd://" + server.hostport() + "/bench/";

  f.handoff.push_back(
      measure_handoff(s, impl::ours_etcd, name + "handoff-filelock"));
  f.etcdctl_handoff_label = "etcdctl lock";
  f.etcdctl_handoff = etcdctl_handoff(s, server);

  f.overhead = measure_commands(
      s,
      {
          {"true", {"true"}},
          {"etcdctl lock N true",
           {s.etcdctl, "--endpoints=" + server.url(), "lock",
            "bench/overhead-ctl", "true"}},
          {"filelock run etcd://…/N -- true",
           {s.filelock, "run", name + "overhead", "--", "true"}},
      },
      s.quick ? 5 : 40);
  return f;
}

}  // namespace bench
