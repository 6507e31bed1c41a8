// Many readers or one writer, across processes and threads.
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include <filelock/filelock.hpp>

int main() {
  const auto path = std::filesystem::temp_directory_path() / "example-rw.lock";
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&path, i] {
      filelock::file_lock lock(path);
      auto shared = lock.acquire(filelock::lock_mode::shared);
      std::printf("reader %d in\n", i);
    });
  }
  for (auto& t : readers) t.join();

  filelock::file_lock lock(path);
  auto writer = lock.acquire(filelock::lock_mode::exclusive);
  std::printf("writer in, alone\n");

  // Upgrading in place would wait for ourselves forever; it is refused.
  filelock::file_lock other(path);
  writer.release();
  auto reader = other.acquire(filelock::lock_mode::shared);
  auto upgrade =
      other.acquire_until(std::nullopt, filelock::lock_mode::exclusive);
  std::printf("upgrade refused: %s\n",
              upgrade.error == filelock::errc::would_deadlock ? "yes" : "no");
  return upgrade.error == filelock::errc::would_deadlock ? 0 : 1;
}
