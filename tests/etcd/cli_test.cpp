// The filelock program on etcd names: exit statuses, the child's
// environment, status and break-stale output, losing the lock while the
// command runs.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
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

// ---- Semaphores on etcd (run/acquire --slots N; SEMAPHORES in etcd.hpp) ----

namespace {

// A semaphore holder that prints "held <slot>" and holds until its stdin
// ends. A 2 s lease: with 1 s, run's loss watch (margin 0.5 s) leaves a
// renewal under 0.2 s to arrive, too little under sanitizers.
std::vector<std::string> slot_holder(const server& s, const std::string& name,
                                     const std::string& slots) {
  return program({"run", "--lease-ttl", "2s", "--slots", slots,
                  name_on(s, name), "--", "sh", "-c",
                  "echo held $FILELOCK_SLOT; exec cat"});
}

// A semaphore of 2 held in slots 1 and 2 (h1's key the older; a
// semaphore that degenerated into a lock fails here) and a waiter queued
// behind them that prints "held <slot>" once it gets in.
struct two_held {
  std::unique_ptr<process> h1, h2, w;
  two_held(const server& s, const std::string& name) {
    h1 = std::make_unique<process>(slot_holder(s, name, "2"));
    REQUIRE(h1->line(5s) == std::optional<std::string>("held 1"));
    h2 = std::make_unique<process>(slot_holder(s, name, "2"));
    REQUIRE(h2->line(5s) == std::optional<std::string>("held 2"));
    w = std::make_unique<process>(
        program({"run", "--slots", "2", name_on(s, name), "--", "sh", "-c",
                 "echo held $FILELOCK_SLOT"}));
    REQUIRE(queued(s, name, 3));
  }
};

// How many ranges (reads) etcd has served: etcd_mvcc_range_total from its
// /metrics page, read with a plain HTTP/1.0 GET; -1 when unreadable.
long ranges_served(const server& s) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(s.port()));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string page;
  const std::string get = "GET /metrics HTTP/1.0\r\n\r\n";
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::write(fd, get.data(), get.size()) == static_cast<ssize_t>(get.size())) {
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
      page.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const std::string name = "\netcd_mvcc_range_total ";
  const auto at = page.find(name);
  if (at == std::string::npos) return -1;
  return std::atol(page.c_str() + at + name.size());
}

}  // namespace

TEST_CASE(
    "run --slots on etcd: N hold at once, the next waits and gets the "
    "freed slot's number") {
  server s;
  two_held sem(s, "sem");
  auto &h1 = *sem.h1, &h2 = *sem.h2, &w = *sem.w;
  CHECK(w.line(300ms) == std::nullopt);
  // The waiter's rank is 2 once slot 1's holder leaves; its number must be
  // the free one, 1, not the one the holder of slot 2 still uses.
  h1.close_stdin();
  CHECK(h1.wait() == std::optional<int>(0));
  CHECK(w.line(5s) == std::optional<std::string>("held 1"));
  CHECK(w.wait() == std::optional<int>(0));
  h2.close_stdin();
  CHECK(h2.wait() == std::optional<int>(0));
  CHECK(keys_under(s, "sem") == 0);
}

TEST_CASE("run --slots on etcd: never more than N commands at once") {
  server s;
  char tmpl[] = "/tmp/filelock-etcd-slots-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  // Each command counts the commands running (a file each, made after the
  // slot was granted and removed before it is released, so the count never
  // exceeds the holders) and stays a while so that overlaps are seen.
  const std::string body = "touch " + dir + "/$$; ls " + dir +
                           " | wc -l; sleep 0.2; rm " + dir + "/$$";
  std::vector<std::unique_ptr<process>> runs;
  for (int i = 0; i < 6; ++i) {
    runs.push_back(std::make_unique<process>(program(
        {"run", "--slots", "2", name_on(s, "most"), "--", "sh", "-c", body})));
  }
  int most = 0;
  for (auto& p : runs) {
    auto l = p->line(15s);
    REQUIRE(l);
    most = std::max(most, std::stoi(*l));
    CHECK(p->wait() == std::optional<int>(0));
  }
  CHECK(most >= 1);
  CHECK(most <= 2);
  std::filesystem::remove_all(dir);
  CHECK(keys_under(s, "most") == 0);
}

TEST_CASE(
    "run --slots on etcd: a holder killed with SIGKILL frees its slot within "
    "TTL + margin") {
  server s;
  two_held sem(s, "kill");
  auto &h1 = *sem.h1, &h2 = *sem.h2, &w = *sem.w;
  // The older holder dies: a waiter watching only the key just before it
  // (h2's) would sleep on.
  const auto start = steady_clock::now();
  h1.signal(SIGKILL);
  CHECK(w.line(5s) == std::optional<std::string>("held 1"));
  CHECK(filelock::etcd_test::seconds_since(start) < 2.0 + 0.5 + 1.5);
  CHECK(w.wait() == std::optional<int>(0));
  h2.close_stdin();
  CHECK(h2.wait() == std::optional<int>(0));
}

TEST_CASE("run --slots on etcd: another N is refused (64) and leaves no key") {
  server s;
  process h(slot_holder(s, "n", "2"));
  REQUIRE(h.line(5s));
  auto other = run_filelock(
      {"run", "--slots", "3", name_on(s, "n"), "--", "echo", "ran"});
  CHECK(other.first == 64);
  CHECK(other.second == "filelock: cannot lock '" + name_on(s, "n") +
                            "': it is a semaphore of 2 slots; use --slots 2 "
                            "with it\n");
  CHECK(keys_under(s, "n") == 1);
  h.close_stdin();
  CHECK(h.wait() == std::optional<int>(0));
  // The count stays with the name, as a local semaphore's file keeps it.
  auto later = run_filelock(
      {"run", "--slots", "3", name_on(s, "n"), "--", "echo", "ran"});
  CHECK(later.first == 64);
  auto same = run_filelock(
      {"run", "--slots", "2", name_on(s, "n"), "--", "echo", "ran"});
  CHECK(same.first == 0);
  CHECK(same.second == "ran\n");
  // A key NAME that holds something else is no record to join or replace.
  const auto etcdctl = filelock::etcd_test::etcdctl_binary();
  if (etcdctl.empty()) return;
  REQUIRE(filelock::etcd_test::run(
              {etcdctl, "--endpoints", s.url(), "put", "data", "x"},
              {"ETCDCTL_API=3"})
              .first == 0);
  auto data = run_filelock(
      {"run", "--slots", "2", name_on(s, "data"), "--", "echo", "ran"});
  CHECK(data.first == 64);
  CHECK_MESSAGE(data.second.find("the etcd key 'data' exists and is not a "
                                 "semaphore") != std::string::npos,
                data.second);
  CHECK(keys_under(s, "data") == 0);
}

TEST_CASE("status on etcd: a semaphore lists every slot and the waiters") {
  server s;
  two_held sem(s, "ss");
  auto &h1 = *sem.h1, &h2 = *sem.h2, &w = *sem.w;

  auto [status, out] = run_filelock({"status", "--json", name_on(s, "ss")});
  CHECK(status == 0);
  auto lock = nlohmann::json::parse(out)["locks"][0];
  CHECK(lock["slots"] == 2);
  REQUIRE(lock["slot_list"].size() == 2);
  CHECK(lock["slot_list"][0]["slot"] == 1);
  CHECK(lock["slot_list"][0]["state"] == "held");
  CHECK(lock["slot_list"][0]["holder"]["pid"] == h1.pid());
  CHECK(lock["slot_list"][1]["holder"]["pid"] == h2.pid());
  REQUIRE(lock["holders"].size() == 2);
  CHECK(lock["holders"][1]["slot"] == 2);
  REQUIRE(lock["waiters"].size() == 1);
  CHECK(lock["waiters"][0]["pid"] == w.pid());
  CHECK(lock["waiters"][0]["position"] == 1);

  auto text = run_filelock({"status", name_on(s, "ss")}).second;
  CHECK_MESSAGE(text.find("  slots:   2 (2 held)\n") != std::string::npos,
                text);
  CHECK(text.find("  slot 2:  pid " + std::to_string(h2.pid())) !=
        std::string::npos);
  CHECK(text.find("  waiter 1: pid " + std::to_string(w.pid())) !=
        std::string::npos);
  h1.close_stdin();
  h2.close_stdin();
  CHECK(w.wait() == std::optional<int>(0));
  CHECK(h1.wait() == std::optional<int>(0));
  CHECK(h2.wait() == std::optional<int>(0));
  auto after = run_filelock({"status", name_on(s, "ss")});
  CHECK(after.first == 1);
  CHECK(after.second.find("  slot 1:  free\n") != std::string::npos);
}

TEST_CASE("run --slots on etcd: -n, -w and SIGINT on a full one leave no key") {
  server s;
  process h(slot_holder(s, "full", "1"));
  REQUIRE(h.line(5s));
  auto busy = run_filelock(
      {"run", "-n", "--slots", "1", name_on(s, "full"), "--", "true"});
  CHECK(busy.first == 75);
  CHECK_MESSAGE(busy.second.find("held by pid " + std::to_string(h.pid())) !=
                    std::string::npos,
                busy.second);
  CHECK(keys_under(s, "full") == 1);
  auto late = run_filelock(
      {"run", "-w", "300ms", "--slots", "1", name_on(s, "full"), "--", "true"});
  CHECK(late.first == 75);
  CHECK(keys_under(s, "full") == 1);
  process waiter(
      program({"run", "--slots", "1", name_on(s, "full"), "--", "true"}));
  REQUIRE(queued(s, "full", 2));
  waiter.signal(SIGINT);
  CHECK(waiter.wait() == std::optional<int>(128 + SIGINT));
  CHECK(keys_under(s, "full") == 1);
  h.close_stdin();
  CHECK(h.wait() == std::optional<int>(0));
  CHECK(keys_under(s, "full") == 0);
}

TEST_CASE("etcd: a plain lock and a semaphore on one name exclude each other") {
  server s;
  process h(slot_holder(s, "mix", "2"));
  REQUIRE(h.line(5s));
  // A slot is free, but a plain lock excludes every slot's holder.
  CHECK(run_filelock({"run", "-n", name_on(s, "mix"), "--", "true"}).first ==
        75);
  h.close_stdin();
  CHECK(h.wait() == std::optional<int>(0));
  process plain(program(
      {"run", name_on(s, "mix"), "--", "sh", "-c", "echo held; exec cat"}));
  REQUIRE(plain.line(5s));
  CHECK(run_filelock(
            {"run", "-n", "--slots", "2", name_on(s, "mix"), "--", "true"})
            .first == 75);
  plain.close_stdin();
  CHECK(plain.wait() == std::optional<int>(0));
  CHECK(keys_under(s, "mix") == 0);
}

TEST_CASE("acquire --slots on etcd: a slot as a lease, released by release") {
  server s;
  auto got = run_filelock({"acquire", "--json", "--lifetime", "30s", "--slots",
                           "1", name_on(s, "as")});
  REQUIRE(got.first == 0);
  auto lock = nlohmann::json::parse(got.second)["lock"];
  CHECK(lock.value("key", "").starts_with("as/n/"));
  CHECK(lock.value("slot", 0) == 1);
  CHECK(run_filelock(
            {"run", "-n", "--slots", "1", name_on(s, "as"), "--", "true"})
            .first == 75);
  CHECK(run_filelock(
            {"acquire", "--lifetime", "30s", "--slots", "2", name_on(s, "as")})
            .first == 64);
  auto rel = run_filelock({"release", name_on(s, "as")});
  CHECK(rel.first == 0);
  CHECK(keys_under(s, "as") == 0);
}

TEST_CASE(
    "run --slots on etcd: waiters sleep, and a release wakes only the one "
    "behind it") {
  server s;
  // Two holders and five waiters, each holding its slot once it has one.
  std::vector<std::unique_ptr<process>> p;
  for (std::size_t i = 0; i < 7; ++i) {
    p.push_back(std::make_unique<process>(slot_holder(s, "herd", "2")));
    if (i < 2) REQUIRE(p[i]->line(5s));
    REQUIRE(queued(s, "herd", i + 1));
  }
  // The last waiter's first reads follow its key's creation: let them end
  // (a count unchanged for 100 ms). Then a waiter that re-read every
  // second would show.
  long before = ranges_served(s);
  REQUIRE(before >= 0);
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(100ms);
    const long now = ranges_served(s);
    if (now == before) break;
    before = now;
  }
  std::this_thread::sleep_for(1s);
  const long idle = ranges_served(s) - before;
  CHECK(idle == 0);
  // Only the first waiter watches the first holder's key (the others watch
  // keys nearer to them). It reads the queue, checks its key, reads and
  // claims a slot number: 4 reads (a comparison in a transaction is one).
  // Each other waiter woken would read the queue and re-check 2 keys.
  p[0]->close_stdin();
  CHECK(p[2]->line(5s) == std::optional<std::string>("held 1"));
  std::this_thread::sleep_for(300ms);
  const long woken = ranges_served(s) - before - idle;
  MESSAGE("ranges while idle: ", idle, ", for one release: ", woken);
  CHECK(woken <= 6);
  for (auto& q : p) q->close_stdin();
  for (auto& q : p) CHECK(q->wait() == std::optional<int>(0));
}
