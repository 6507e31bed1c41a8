// The filelock program on etcd names: exit statuses, the child's
// environment, status and break-stale output, losing the lock while the
// command runs.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "filelock/etcd.hpp"
#include "support.hpp"

namespace fe = filelock::etcd;
using filelock::acquire_status;
using filelock::lock_mode;
using filelock::steady_clock;
using namespace std::chrono_literals;
using filelock::etcd_test::process;
using filelock::etcd_test::server;

namespace {

std::string name_on(const server& s, const std::string& name) {
  return "etcd://" + s.hostport() + "/" + name;
}

fe::options quick() {
  fe::options o;
  o.lease_ttl = 2s;
  o.request_timeout = 1000ms;
  return o;
}

std::size_t keys_under(const server& s, const std::string& name) {
  return fe::inspect(name_on(s, name), quick()).entries.size();
}

bool queued(const server& s, const std::string& name, std::size_t n) {
  auto until = steady_clock::now() + 10s;
  while (steady_clock::now() < until) {
    if (keys_under(s, name) == n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// filelock with stderr joined to stdout, so that tests read its messages.
std::vector<std::string> program(std::vector<std::string> args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1",
                                   FILELOCK_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::pair<int, std::string> run_filelock(std::vector<std::string> args) {
  return filelock::etcd_test::run(program(std::move(args)));
}

}  // namespace

TEST_CASE("run on etcd: the command gets the fence and the key") {
  server s;
  auto [status, out] = run_filelock(
      {"run", name_on(s, "jobs/x"), "--", "sh", "-c",
       "echo \"$FILELOCK_KIND $FILELOCK_FENCE $FILELOCK_KEY\"; exit 3"});
  CHECK_MESSAGE(status == 3, out);  // the command's own status
  CHECK(out.starts_with("etcd "));
  CHECK(out.find(" jobs/x/") != std::string::npos);
  CHECK(std::stoll(out.substr(5)) > 0);
  CHECK(keys_under(s, "jobs/x") == 0);
}

TEST_CASE("run on etcd: nobody answers -> 69, naming the endpoint") {
  const auto port = std::to_string(filelock::etcd_test::free_port());
  auto [status, out] =
      run_filelock({"run", "etcd://127.0.0.1:" + port + "/x", "--", "true"});
  CHECK(status == 69);
  CHECK(out.starts_with(
      "filelock: cannot lock 'etcd://127.0.0.1:" + port +
      "/x': no etcd endpoint answers (http://127.0.0.1:" + port));
}

TEST_CASE("run on etcd: libcurl that cannot be loaded -> 64, naming the file") {
  // libcurl is loaded on first use of an etcd name (core/src/etcd/
  // curl_api.hpp); FILELOCK_LIBCURL stands in for a machine without it.
  const std::string missing = "/nonexistent/filelock-test/libcurl.so.4";
  auto [status, out] = filelock::etcd_test::run(
      program({"run", "etcd://127.0.0.1:1/x", "--", "sh", "-c", "echo ran"}),
      {"FILELOCK_LIBCURL=" + missing});
  CHECK_MESSAGE(status == 64, out);
  CHECK_MESSAGE(out.find(missing) != std::string::npos, out);
  CHECK_MESSAGE(out.find("needs libcurl") != std::string::npos, out);
  CHECK(out.find("ran") == std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);

  auto [st, text] =
      filelock::etcd_test::run(program({"status", "etcd://127.0.0.1:1/x"}),
                               {"FILELOCK_LIBCURL=" + missing});
  CHECK_MESSAGE(st == 64, text);
  CHECK_MESSAGE(text.find(missing) != std::string::npos, text);
}

TEST_CASE(
    "run on etcd: short names take ETCDCTL_ENDPOINTS and bad names give 64") {
  server s;
  auto ok = filelock::etcd_test::run(
      program({"run", "etcd:short", "--", "sh", "-c", "echo $FILELOCK_KEY"}),
      {"ETCDCTL_ENDPOINTS=" + s.url(), "FILELOCK_ETCD_ENDPOINTS="});
  CHECK(ok.first == 0);
  CHECK(ok.second.starts_with("short/"));
  auto bad = run_filelock({"run", "etcd://127.0.0.1:1/", "--", "true"});
  CHECK(bad.first == 64);
  auto none = filelock::etcd_test::run(
      program({"run", "etcd:short", "--", "true"}),
      {"ETCDCTL_ENDPOINTS=", "FILELOCK_ETCD_ENDPOINTS="});
  CHECK(none.first == 64);
  CHECK(none.second ==
        "filelock: cannot find etcd endpoints (--etcd-endpoints, "
        "FILELOCK_ETCD_ENDPOINTS or ETCDCTL_ENDPOINTS) for 'etcd:short': "
        "none is configured\n");
}

TEST_CASE("run on etcd: -n, -w and SIGINT give up and leave no key") {
  server s;
  process holder(program(
      {"run", name_on(s, "b"), "--", "sh", "-c", "echo held; exec cat"}));
  REQUIRE(holder.line() == std::optional<std::string>("held"));

  auto busy = run_filelock({"run", "-n", name_on(s, "b"), "--", "true"});
  CHECK(busy.first == 75);
  CHECK(busy.second.find("held by pid") != std::string::npos);
  CHECK(keys_under(s, "b") == 1);

  auto late =
      run_filelock({"run", "-w", "300ms", name_on(s, "b"), "--", "true"});
  CHECK(late.first == 75);
  CHECK(late.second.find("timed out after") != std::string::npos);
  CHECK(keys_under(s, "b") == 1);

  process waiter(program({"run", name_on(s, "b"), "--", "true"}));
  REQUIRE(queued(s, "b", 2));
  waiter.signal(SIGINT);
  CHECK(waiter.wait() == std::optional<int>(128 + SIGINT));
  CHECK(keys_under(s, "b") == 1);

  // Started with SIGINT ignored (as a background job of a script is, or
  // under nohup for SIGHUP), the waiter keeps ignoring it, as it does when
  // it waits for a local lock.
  auto argv = program({"run", name_on(s, "b"), "--", "true"});
  argv.insert(argv.begin(),
              {"/bin/sh", "-c", "trap '' INT; exec \"$0\" \"$@\""});
  process deaf(argv);
  REQUIRE(queued(s, "b", 2));
  deaf.signal(SIGINT);
  CHECK(!deaf.wait(std::chrono::milliseconds(500)));
  CHECK(keys_under(s, "b") == 2);
  deaf.signal(SIGTERM);
  CHECK(deaf.wait() == std::optional<int>(128 + SIGTERM));
  CHECK(keys_under(s, "b") == 1);

  holder.close_stdin();
  CHECK(holder.wait() == std::optional<int>(0));
  CHECK(keys_under(s, "b") == 0);
}

TEST_CASE(
    "run on etcd: cut off from etcd, the command is dead before "
    "anyone else gets the lock") {
  server s;
  filelock::etcd_test::proxy cut(s.port());
  // A command that ignores SIGTERM, so that only the SIGKILL stops it.
  process holder(
      program({"run", "--lease-ttl", "2s", "--lost-grace", "300ms",
               "etcd://" + cut.hostport() + "/cut", "--", "sh", "-c",
               "trap '' TERM; echo $$; while :; do sleep 0.05; done"}));
  auto pid_line = holder.line();
  REQUIRE(pid_line);
  const pid_t command = std::stoi(*pid_line);

  cut.freeze();
  const auto frozen = steady_clock::now();
  std::atomic<steady_clock::rep> acquired_at{0};
  std::thread other([&] {
    fe::lock l(name_on(s, "cut"), quick());
    auto a = l.acquire_until(steady_clock::now() + 20s, lock_mode::exclusive);
    REQUIRE(a.result.acquired());
    acquired_at = steady_clock::now().time_since_epoch().count();
  });
  // filelock reaps the command at once, so the pid stops existing when
  // the command dies.
  while (::kill(command, 0) == 0 && steady_clock::now() < frozen + 15s) {
    std::this_thread::sleep_for(2ms);
  }
  const auto dead_at = steady_clock::now();
  std::vector<std::string> said;
  while (auto l = holder.line(15s)) said.push_back(*l);
  auto status = holder.wait();
  other.join();
  CHECK(status == std::optional<int>(79));
  CHECK(dead_at.time_since_epoch().count() < acquired_at.load());
  CHECK(dead_at - frozen < 2s);  // within the TTL of the freeze
  REQUIRE(said.size() >= 1);
  CHECK(said.back().find("lost the lock '") != std::string::npos);
  CHECK(said.back().find("stopping the command") != std::string::npos);
  cut.thaw();
}

TEST_CASE("run on etcd: --on-lost warn keeps the command, still exits 79") {
  server s;
  process holder(program({"run", "--on-lost", "warn", name_on(s, "w"), "--",
                          "sh", "-c", "echo started; sleep 1; echo finished"}));
  REQUIRE(holder.line() == std::optional<std::string>("started"));
  filelock::break_options force;
  force.force = true;
  CHECK(fe::break_stale(name_on(s, "w"), force, quick()).outcome ==
        filelock::break_outcome::removed);
  auto warned = holder.line();
  REQUIRE(warned);
  CHECK(warned->find("keeps running") != std::string::npos);
  CHECK(holder.line() == std::optional<std::string>("finished"));
  CHECK(holder.wait() == std::optional<int>(79));
}

TEST_CASE("status on etcd: holders and waiters in queue order, as JSON") {
  server s;
  process holder(program(
      {"run", name_on(s, "st"), "--", "sh", "-c", "echo held; exec cat"}));
  REQUIRE(holder.line());
  process w1(program({"run", name_on(s, "st"), "--", "true"}));
  REQUIRE(queued(s, "st", 2));
  process w2(program({"run", "-s", name_on(s, "st"), "--", "true"}));
  REQUIRE(queued(s, "st", 3));

  auto [status, out] = run_filelock({"status", "--json", name_on(s, "st")});
  CHECK(status == 0);
  auto doc = nlohmann::json::parse(out);
  const auto& lock = doc["locks"][0];
  CHECK(lock["path"] == name_on(s, "st"));
  CHECK(lock["state"] == "held");
  CHECK(lock["backend"] == "etcd");
  REQUIRE(lock["holders"].size() == 1);
  REQUIRE(lock["waiters"].size() == 2);
  const auto& h = lock["holders"][0];
  CHECK(h["pid"] == holder.pid());
  CHECK(h["command"].get<std::string>().starts_with("sh -c"));
  CHECK(h["ttl_left"].get<int>() > 0);
  CHECK(lock["waiters"][0]["position"] == 1);
  CHECK(lock["waiters"][1]["position"] == 2);
  CHECK(lock["waiters"][1]["mode"] == "shared");
  CHECK(h["fence"].get<std::int64_t>() <
        lock["waiters"][0]["fence"].get<std::int64_t>());
  CHECK(lock["waiters"][0]["fence"].get<std::int64_t>() <
        lock["waiters"][1]["fence"].get<std::int64_t>());

  auto text = run_filelock({"status", name_on(s, "st")});
  CHECK(text.second.find("waiter 2: ") != std::string::npos);
  holder.close_stdin();
  CHECK(holder.wait() == std::optional<int>(0));
  CHECK(w1.wait() == std::optional<int>(0));
  CHECK(w2.wait() == std::optional<int>(0));
  const auto after = run_filelock({"status", name_on(s, "st")});
  CHECK_MESSAGE(after.first == 1, after.second);  // free
}

TEST_CASE("break-stale on etcd: a live holder is left alone") {
  server s;
  process holder(program(
      {"run", name_on(s, "bs"), "--", "sh", "-c", "echo held; exec cat"}));
  REQUIRE(holder.line());
  auto live = run_filelock({"break-stale", name_on(s, "bs")});
  CHECK(live.first == 0);
  CHECK(live.second.find("left alone") != std::string::npos);
  auto dry =
      run_filelock({"break-stale", "--dry-run", "--force", name_on(s, "bs")});
  CHECK(dry.first == 2);
  CHECK(dry.second.find("would revoke") != std::string::npos);
  CHECK(keys_under(s, "bs") == 1);
  holder.close_stdin();
  CHECK(holder.wait() == std::optional<int>(0));
}

TEST_CASE("acquire and release on etcd: a lease with a lifetime") {
  server s;
  auto got = run_filelock({"acquire", "--lifetime", "30s", name_on(s, "a")});
  CHECK(got.first == 0);
  CHECK(got.second.starts_with("a/"));
  CHECK(keys_under(s, "a") == 1);
  auto busy = run_filelock({"run", "-n", name_on(s, "a"), "--", "true"});
  CHECK(busy.first == 75);
  auto rel = run_filelock({"release", name_on(s, "a")});
  CHECK(rel.first == 0);
  CHECK(keys_under(s, "a") == 0);
}

TEST_CASE("etcdctl lock waits for filelock run on the same name") {
  const auto etcdctl = filelock::etcd_test::etcdctl_binary();
  if (etcdctl.empty()) {
    MESSAGE("SKIPPED: no etcdctl");
    return;
  }
  server s;
  process holder(program(
      {"run", name_on(s, "ix"), "--", "sh", "-c", "echo held; exec cat"}));
  REQUIRE(holder.line());
  process ctl(
      {etcdctl, "--endpoints", s.url(), "lock", "ix", "--", "echo", "got"},
      {"ETCDCTL_API=3"});
  REQUIRE(queued(s, "ix", 2));
  CHECK(ctl.line(300ms) == std::nullopt);
  holder.close_stdin();
  CHECK(ctl.line() == std::optional<std::string>("got"));
  CHECK(ctl.wait() == std::optional<int>(0));
}

TEST_CASE("run on etcd: a nested run on the same name runs under its parent") {
  server s;
  auto [status, out] =
      run_filelock({"run", name_on(s, "nest"), "--", FILELOCK_BIN, "run", "-w",
                    "3s", name_on(s, "nest"), "--", "echo", "inner"});
  CHECK(status == 0);
  CHECK(out == "inner\n");
  // A shared hold does not cover an exclusive nested request: that would
  // wait for itself, so it times out instead of running unlocked.
  auto [st2, out2] =
      run_filelock({"run", "-s", name_on(s, "nest"), "--", FILELOCK_BIN, "run",
                    "-w", "300ms", name_on(s, "nest"), "--", "echo", "inner"});
  CHECK(st2 == 75);
}

TEST_CASE("run on etcd: a refused password is 77 and a good one works") {
  const auto etcdctl = filelock::etcd_test::etcdctl_binary();
  if (etcdctl.empty()) {
    MESSAGE("SKIPPED: no etcdctl");
    return;
  }
  server s;
  for (std::vector<std::string> args :
       {std::vector<std::string>{"user", "add", "root",
                                 "--new-user-password=rootpw"},
        {"user", "grant-role", "root", "root"},
        {"auth", "enable"}}) {
    std::vector<std::string> argv = {etcdctl, "--endpoints", s.url()};
    argv.insert(argv.end(), args.begin(), args.end());
    REQUIRE(filelock::etcd_test::run(argv, {"ETCDCTL_API=3"}).first == 0);
  }
  auto denied = filelock::etcd_test::run(
      program({"run", "--etcd-user", "root", name_on(s, "p"), "--", "true"}),
      {"FILELOCK_ETCD_PASSWORD=wrong"});
  CHECK(denied.first == 77);
  CHECK(denied.second.find("etcd denied access") != std::string::npos);

  char tmpl[] = "/tmp/filelock-etcd-pw-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "rootpw\n", 7) == 7);
  ::close(fd);
  auto ok = filelock::etcd_test::run(
      program({"run", "--etcd-user", "root", "--etcd-password-file", tmpl,
               name_on(s, "p"), "--", "echo", "in"}),
      {"FILELOCK_ETCD_PASSWORD="});
  ::unlink(tmpl);
  CHECK(ok.first == 0);
  CHECK(ok.second == "in\n");
}
