// The reader/writer critical section shared by the unit tests' threads and
// the helper process. Presence in the section is marked by entries in a
// directory: a writer holds "writer" (mkdir, so two writers cannot both
// create it), a reader a file of its own. A violation is any sign of the
// other kind inside at the same time.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "filelock/filelock.hpp"

namespace filelock::test {

namespace fs = std::filesystem;

namespace {

int count_readers(const fs::path& arena) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(arena)) {
    if (e.path().filename().string().rfind("reader-", 0) == 0) ++n;
  }
  return n;
}

int write_round(const fs::path& arena) {
  int bad = 0;
  std::error_code ec;
  if (!fs::create_directory(arena / "writer", ec)) ++bad;
  if (count_readers(arena) != 0) ++bad;
  std::this_thread::sleep_for(std::chrono::microseconds(300));
  fs::remove(arena / "writer", ec);
  return bad;
}

int read_round(const fs::path& arena, const std::string& me) {
  int bad = 0;
  std::ofstream(arena / me).put('r');
  if (fs::exists(arena / "writer")) ++bad;
  std::this_thread::sleep_for(std::chrono::microseconds(300));
  if (fs::exists(arena / "writer")) ++bad;
  fs::remove(arena / me);
  return bad;
}

}  // namespace

int reader_writer_rounds(const std::string& lock_path, const std::string& arena,
                         int rounds, unsigned seed) {
  std::mt19937 pick(seed + static_cast<unsigned>(getpid()));
  const std::string me =
      "reader-" + std::to_string(getpid()) + "-" + std::to_string(seed);
  file_lock lock(lock_path);
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    // One writer round in three keeps both kinds busy.
    if (pick() % 3 == 0) {
      auto g = lock.acquire(lock_mode::exclusive);
      bad += write_round(arena);
    } else {
      auto g = lock.acquire(lock_mode::shared);
      bad += read_round(arena, me);
    }
  }
  return bad;
}

}  // namespace filelock::test
