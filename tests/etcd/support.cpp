#include "support.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace filelock::etcd_test {

namespace {

using clock = std::chrono::steady_clock;

std::string on_path(const char* name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    auto colon = p.find(':', start);
    if (colon == std::string::npos) colon = p.size();
    auto candidate = p.substr(start, colon - start) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = colon + 1;
  }
  return {};
}

std::size_t discard(char*, std::size_t, std::size_t n, void*) {
  return n;
}

bool healthy(const std::string& url, const std::string& ca) {
  CURL* e = curl_easy_init();
  if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(e, CURLOPT_URL, (url + "/health").c_str());
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 500L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  auto rc = curl_easy_perform(e);
  long status = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(e);
  return rc == CURLE_OK && status == 200;
}

pid_t spawn(std::vector<std::string> argv, const std::vector<std::string>& env,
            int out_fd, int null_in, int err_fd = -1,
            const std::vector<std::string>& more = {}) {
  argv.insert(argv.end(), more.begin(), more.end());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (const auto& kv : env) {
    auto name = kv.substr(0, kv.find('=') + 1);
    std::erase_if(envs,
                  [&](const std::string& s) { return s.starts_with(name); });
    envs.push_back(kv);
  }
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // A test that crashes must not leave its etcd (or helper) running.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (null_in >= 0) ::dup2(null_in, 0);
    if (out_fd >= 0) ::dup2(out_fd, 1);
    if (err_fd >= 0) ::dup2(err_fd, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int decode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string etcd_binary() {
  if (const char* e = std::getenv("ETCD_BIN")) return e;
  return on_path("etcd");
}

std::string etcdctl_binary() {
  return on_path("etcdctl");
}

double seconds_since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(s);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(s);
  return ntohs(a.sin_port);
}

bool make_test_ca(const std::filesystem::path& dir) {
  if (on_path("openssl").empty()) return false;
  const std::string d = dir.string();
  const std::string script =
      "set -e; cd '" + d +
      "'; "
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=filelock-test-ca; "
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-keyout server.key -out server.csr -subj /CN=127.0.0.1; "
      "printf 'subjectAltName=IP:127.0.0.1\\n' > ext; "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
      "-CAcreateserial -out server.pem -days 1 -extfile ext";
  return run({"/bin/sh", "-c", "{ " + script + "; } >/dev/null 2>&1"}).first ==
         0;
}

server::server(const std::filesystem::path& tls_dir) {
  char tmpl[] = "/tmp/filelock-etcd-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  // Two free ports taken one after the other may race with another test;
  // a server that does not come up is retried on new ports.
  for (int tries = 0; tries < 3; ++tries) {
    const auto client = std::to_string(free_port());
    const auto peer = "http://127.0.0.1:" + std::to_string(free_port());
    const bool tls = !tls_dir.empty();
    url_ = (tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + client;
    std::vector<std::string> extra;
    if (tls) {
      extra = {"--cert-file", (tls_dir / "server.pem").string(), "--key-file",
               (tls_dir / "server.key").string()};
    }
    const auto log = dir_ / "etcd.log";
    int fd =
        ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = spawn({etcd_binary(), "--name", "default", "--data-dir",
                  (dir_ / ("data" + std::to_string(tries))).string(),
                  "--listen-client-urls", url_, "--advertise-client-urls", url_,
                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls",
                  peer, "--initial-cluster", "default=" + peer,
                  "--heartbeat-interval", "10", "--election-timeout", "50"},
                 {}, fd, null_in, fd, extra);
    ::close(fd);
    ::close(null_in);
    auto until = clock::now() + std::chrono::seconds(10);
    while (clock::now() < until) {
      if (healthy(url_, tls ? (tls_dir / "ca.pem").string() : "")) return;
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  throw std::runtime_error("etcd did not start; see " + dir_.string());
}

server::~server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int st = 0;
    auto until = clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &st, WNOHANG) == 0 && clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (::kill(pid_, 0) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string server::hostport() const {
  return url_.substr(url_.find("//") + 2);
}
int server::port() const {
  return std::stoi(url_.substr(url_.rfind(':') + 1));
}
void server::freeze() {
  ::kill(pid_, SIGSTOP);
}
void server::thaw() {
  ::kill(pid_, SIGCONT);
}

proxy::proxy(int target_port) : target_(target_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener_, 16) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("proxy: cannot listen");
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { serve(); });
}

proxy::~proxy() {
  done_ = true;
  acceptor_.join();
  {
    std::lock_guard lk(mutex_);
    for (int s : sockets_) ::shutdown(s, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  for (int s : sockets_) ::close(s);
  ::close(listener_);
}

std::string proxy::hostport() const {
  return "127.0.0.1:" + std::to_string(port_);
}

void proxy::serve() {
  while (!done_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int in = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (in < 0) continue;
    int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(target_));
    if (::connect(out, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(in);
      ::close(out);
      continue;
    }
    std::lock_guard lk(mutex_);
    sockets_.push_back(in);
    sockets_.push_back(out);
    threads_.emplace_back([this, in, out] { pump(in, out); });
    threads_.emplace_back([this, in, out] { pump(out, in); });
  }
}

void proxy::pump(int from, int to) {
  char buf[4096];
  while (!done_) {
    if (frozen_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    pollfd p{from, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    if (frozen_) continue;
    auto n = ::read(from, buf, sizeof buf);
    if (n <= 0) {
      ::shutdown(to, SHUT_WR);
      return;
    }
    if (::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) return;
  }
}

process::process(std::vector<std::string> argv, std::vector<std::string> env) {
  // stdin is a pipe we keep open: a helper told to hold "until stdin
  // ends" holds until this object goes or close_stdin().
  int fds[2], in[2];
  if (::pipe2(fds, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_ = spawn(argv, env, fds[1], in[0]);
  ::close(fds[1]);
  ::close(in[0]);
  out_ = fds[0];
  in_ = in[1];
}

process::~process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  ::close(out_);
  if (in_ >= 0) ::close(in_);
}

std::optional<std::string> process::line(std::chrono::milliseconds timeout) {
  auto until = clock::now() + timeout;
  for (;;) {
    if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
      auto l = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return l;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[512];
    auto n = ::read(out_, buf, sizeof buf);
    if (n <= 0) return std::nullopt;
    buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  auto until = clock::now() + timeout;
  while (clock::now() < until) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = decode(st);
      return status_;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return std::nullopt;
}

void process::signal(int sig) {
  ::kill(pid_, sig);
}

void process::close_stdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

std::pair<int, std::string> run(std::vector<std::string> argv,
                                std::vector<std::string> env) {
  process p(std::move(argv), std::move(env));
  std::string out;
  while (auto l = p.line(std::chrono::seconds(60))) out += *l + "\n";
  auto st = p.wait(std::chrono::seconds(60));
  return {st.value_or(-1), out};
}

}  // namespace filelock::etcd_test
