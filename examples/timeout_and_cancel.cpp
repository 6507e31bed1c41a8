// Waiting with a limit, and giving up from another thread.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stop_token>
#include <thread>

#include <filelock/filelock.hpp>

using namespace std::chrono_literals;

int main() {
  const auto path = std::filesystem::temp_directory_path() / "example-t.lock";
  filelock::file_lock lock(path);

  // try_ never waits; _for waits at most that long. Neither throws when
  // the lock is busy: the optional is simply empty.
  if (auto held = lock.try_acquire_for(500ms)) {
    std::printf("got it within 500ms\n");
  }

  // A wait another thread can stop. acquire_until reports, never throws.
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
  });
  auto held = lock.acquire(filelock::lock_mode::exclusive, stop.get_token());
  auto again = lock.acquire_until(std::nullopt, filelock::lock_mode::shared,
                                  stop.get_token());
  // We already hold it exclusive: a shared request by the same thread
  // counts up rather than waiting on itself.
  std::printf("reentrant acquire: %s\n", again.acquired() ? "yes" : "no");
  return again.acquired() ? 0 : 1;
}
