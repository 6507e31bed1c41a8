// Acquiring without blocking the calling thread.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>

#include <filelock/filelock.hpp>

int main() {
  const auto path = std::filesystem::temp_directory_path() / "example-a.lock";
  filelock::file_lock lock(path);
  std::future<filelock::guard> pending = lock.acquire_async();
  // ... the caller is free to do other work here ...
  filelock::guard held = pending.get();
  std::printf("async acquire done: %s\n", held ? "held" : "not held");
  return held ? 0 : 1;
}
