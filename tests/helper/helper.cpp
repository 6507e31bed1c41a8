// A second process for the unit tests, driven by its arguments:
//   helper hold PATH exclusive|shared SECONDS   take the lock, print "locked",
//                                                hold it, release, exit 0
//   helper try PATH exclusive|shared             exit 0 if it could take the
//                                                lock at once, 75 if busy
//   helper count PATH COUNTER N                  N times: lock, read COUNTER,
//                                                write it back plus one
//   helper rw PATH ARENA N                       N checked reader/writer
//                                                rounds; exit 1 on overlap
//   helper slot PATH SLOTS SECONDS [soft]        take a slot of a semaphore
//                                                of SLOTS (soft: a soft
//                                                one), print "locked",
//                                                hold it, release, exit 0
//   helper slot-try PATH SLOTS                   exit 0 if a slot was free,
//                                                75 if all were held
//   helper fair-loop PATH LOG ROUNDS [MS [plain]]  ROUNDS times: take the
//                                                lock fair (plain: not),
//                                                append a line to LOG, hold
//                                                it MS ms, release and ask
//                                                again at once; "locked"
//                                                after the first
//   helper fair-wait PATH                        take the lock fair (waiting),
//                                                print "locked", exit 0
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "filelock/filelock.hpp"

namespace {

filelock::lock_mode mode_of(const std::string& s) {
  return s == "shared" ? filelock::lock_mode::shared
                       : filelock::lock_mode::exclusive;
}

int hold(const char* path, const std::string& mode, double seconds) {
  filelock::file_lock lock(path);
  auto g = lock.acquire(mode_of(mode));
  std::printf("locked\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 0;
}

int try_once(const char* path, const std::string& mode) {
  filelock::file_lock lock(path);
  return lock.try_acquire(mode_of(mode)) ? 0 : 75;
}

int count(const char* path, const char* counter, int n) {
  filelock::file_lock lock(path);
  for (int i = 0; i < n; ++i) {
    auto g = lock.acquire();
    long value = 0;
    {
      std::ifstream in(counter);
      in >> value;
    }
    std::ofstream(counter, std::ios::trunc) << value + 1 << '\n';
  }
  return 0;
}

filelock::lock_options slots_of(const char* count, bool soft = false) {
  filelock::lock_options o;
  o.slots = static_cast<unsigned>(std::atoi(count));
  if (soft) o.kind = filelock::lock_kind::soft;
  return o;
}

int hold_slot(const char* path, const char* slots, double seconds, bool soft) {
  filelock::file_lock lock(path, slots_of(slots, soft));
  auto g = lock.acquire();
  std::printf("locked\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 0;
}

int try_slot(const char* path, const char* slots) {
  filelock::file_lock lock(path, slots_of(slots));
  return lock.try_acquire() ? 0 : 75;
}

filelock::lock_options fair() {
  filelock::lock_options o;
  o.fair = true;
  return o;
}

int fair_loop(const char* path, const char* log, int rounds, int hold_ms,
              bool plain) {
  filelock::file_lock lock(path, plain ? filelock::lock_options{} : fair());
  for (int i = 0; i < rounds; ++i) {
    auto g = lock.acquire();
    std::ofstream(log, std::ios::app) << "round\n";
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    if (i == 0) {
      std::printf("locked\n");
      std::fflush(stdout);
    }
  }
  return 0;
}

int fair_wait(const char* path) {
  filelock::file_lock lock(path, fair());
  auto g = lock.acquire();
  std::printf("locked\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace

namespace filelock::test {
int reader_writer_rounds(const std::string& lock_path, const std::string& arena,
                         int rounds, unsigned seed);
}

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "hold" && argc == 5)
      return hold(argv[2], argv[3], std::atof(argv[4]));
    if (cmd == "try" && argc == 4) return try_once(argv[2], argv[3]);
    if (cmd == "slot" && (argc == 5 || argc == 6)) {
      const bool soft = argc == 6 && std::string(argv[5]) == "soft";
      return hold_slot(argv[2], argv[3], std::atof(argv[4]), soft);
    }
    if (cmd == "slot-try" && argc == 4) return try_slot(argv[2], argv[3]);
    if (cmd == "fair-loop" && argc >= 5 && argc <= 7) {
      return fair_loop(argv[2], argv[3], std::atoi(argv[4]),
                       argc > 5 ? std::atoi(argv[5]) : 0,
                       argc > 6 && std::string(argv[6]) == "plain");
    }
    if (cmd == "fair-wait" && argc == 3) return fair_wait(argv[2]);
    if (cmd == "count" && argc == 5)
      return count(argv[2], argv[3], std::atoi(argv[4]));
    if (cmd == "rw" && argc == 5) {
      return filelock::test::reader_writer_rounds(argv[2], argv[3],
                                                  std::atoi(argv[4]), 0) == 0
                 ? 0
                 : 1;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "helper: %s\n", e.what());
    return 70;
  }
  std::fprintf(stderr, "helper: bad arguments\n");
  return 64;
}
