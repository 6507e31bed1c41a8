// Fixtures for the etcd tests: a private etcd server on loopback ports, and
// child processes whose output lines the tests read.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace filelock::etcd_test {

// The etcd binary (ETCD_BIN, else etcd on PATH), or empty.
std::string etcd_binary();
// The etcdctl binary, or empty.
std::string etcdctl_binary();

// A loopback port nobody listens on right now.
int free_port();

// A fresh single-member etcd on 127.0.0.1 with a temporary data directory,
// fast elections (--heartbeat-interval 10 --election-timeout 50: healthy in
// ~0.1 s, leases may be as short as 1 s). Stopped by its pid.
class server {
 public:
  // tls_dir: serve HTTPS with tls_dir/server.pem and server.key, signed by
  // tls_dir/ca.pem (see make_test_ca).
  explicit server(const std::filesystem::path& tls_dir = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  std::string hostport() const;                    // 127.0.0.1:PORT
  int port() const;
  pid_t pid() const { return pid_; }
  void freeze();  // SIGSTOP
  void thaw();    // SIGCONT

 private:
  pid_t pid_ = -1;
  std::string url_;
  std::filesystem::path dir_;
};

// Writes ca.pem, server.pem and server.key (for IP 127.0.0.1) into dir
// with openssl(1); false when openssl is missing or fails.
bool make_test_ca(const std::filesystem::path& dir);

// A TCP proxy on a loopback port to `target_port`. freeze() stops it
// forwarding in both directions (bytes stay queued in the kernel, as with
// a proxy process stopped by SIGSTOP): a one-sided network cut for the
// clients that go through it.
class proxy {
 public:
  explicit proxy(int target_port);
  ~proxy();
  proxy(const proxy&) = delete;
  proxy& operator=(const proxy&) = delete;
  std::string hostport() const;
  void freeze() { frozen_ = true; }
  void thaw() { frozen_ = false; }

 private:
  void serve();
  void pump(int a, int b);
  int listener_ = -1;
  int port_ = 0;
  int target_;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> done_{false};
  std::mutex mutex_;
  std::thread acceptor_;
  std::vector<std::thread> threads_;
  std::vector<int> sockets_;
};

// A child process; its stdout is read line by line.
class process {
 public:
  process(std::vector<std::string> argv, std::vector<std::string> env = {});
  ~process();
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  // The next output line, or nullopt on EOF or timeout.
  std::optional<std::string> line(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for the exit status (128+N for signal N); nullopt on timeout.
  std::optional<int> wait(
      std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void signal(int sig);
  void close_stdin();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  std::string buffer_;
  std::optional<int> status_;
};

// Runs argv to completion; returns the exit status and stdout.
std::pair<int, std::string> run(std::vector<std::string> argv,
                                std::vector<std::string> env = {});

double seconds_since(std::chrono::steady_clock::time_point t);

}  // namespace filelock::etcd_test
