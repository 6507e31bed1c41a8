// A second process for the etcd tests: takes an etcd lock, reports on
// stdout, holds it, and releases it.
//
//   filelock_etcd_helper NAME MODE TTL_S HOLD_MS [WAIT_MS]
//
// MODE is x or s. HOLD_MS -1 holds until stdin ends. WAIT_MS: -1 waits
// without limit (the default), 0 is one attempt. Prints "acquired FENCE",
// then "lost REASON" if the lock is lost, then "released"; or "busy",
// "timed_out", "failed DETAIL". Exit status: 0, 75 (busy or timed out),
// 69 (unavailable), 79 (lost), 1 otherwise.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "filelock/etcd.hpp"

namespace fe = filelock::etcd;
using namespace std::chrono;

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  fe::options o;
  o.lease_ttl = seconds(std::atoi(argv[3]));
  o.command = "helper";
  o.on_lost = [](std::string_view why) {
    std::printf("lost %.*s\n", static_cast<int>(why.size()), why.data());
  };
  const auto mode = std::string(argv[2]) == "s"
                        ? filelock::lock_mode::shared
                        : filelock::lock_mode::exclusive;
  const int hold = std::atoi(argv[4]);
  const int wait = argc > 5 ? std::atoi(argv[5]) : -1;
  filelock::deadline until;
  if (wait >= 0) until = filelock::steady_clock::now() + milliseconds(wait);

  fe::lock l(argv[1], o);
  auto a = l.acquire_until(until, mode);
  switch (a.result.status) {
    case filelock::acquire_status::acquired:
      break;
    case filelock::acquire_status::busy:
      std::puts("busy");
      return 75;
    case filelock::acquire_status::timed_out:
      std::puts("timed_out");
      return 75;
    default:
      std::printf("failed %s %s\n", a.result.error.message().c_str(),
                  a.detail.c_str());
      return a.result.error == fe::errc::unavailable ? 69 : 1;
  }
  std::printf("acquired %lld\n", static_cast<long long>(a.monitor->fence()));
  if (hold < 0) {
    char c;
    while (::read(0, &c, 1) > 0) {
    }
  } else {
    std::this_thread::sleep_for(milliseconds(hold));
  }
  const bool lost = a.monitor->lost();
  std::error_code ec;
  a.result.lock.release(ec);
  std::puts("released");
  return lost ? 79 : 0;
}
