// The common case: one section of a program that must not run in two
// processes at once. Run two copies side by side to see the second wait.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <filelock/filelock.hpp>

int main(int argc, char** argv) {
  const std::filesystem::path path =
      argc > 1 ? argv[1]
               : std::filesystem::temp_directory_path() / "example.lock";
  filelock::file_lock lock(path);
  try {
    // The guard releases the lock when it goes out of scope, also when
    // the section throws.
    auto held = lock.acquire();
    std::printf("holding %s\n", path.c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } catch (const filelock::error& e) {
    // e.what() names the operation, the path and the OS reason.
    std::fprintf(stderr, "example: %s\n", e.what());
    return 1;
  }
  std::printf("released\n");
  return 0;
}
