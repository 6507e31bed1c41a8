// Shared fixtures for the unit tests: temporary directories and helper
// processes that hold locks.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace filelock::test {

// A fresh directory, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// A helper process (tests/helper) running in the background.
class helper_process {
 public:
  explicit helper_process(std::vector<std::string> args);
  ~helper_process();
  helper_process(const helper_process&) = delete;
  helper_process& operator=(const helper_process&) = delete;

  // Blocks until the helper printed "locked" (true) or exited (false).
  bool wait_locked();
  // Waits for the helper to exit; returns its exit status (or 128+signal).
  int wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Rounds of a checked reader/writer critical section in `arena`: a writer
// must find no reader and no writer inside, a reader no writer. Returns
// the number of violations seen. Shared by threads here and by the helper
// process (tests/helper), so both sides check the same rules.
int reader_writer_rounds(const std::string& lock_path, const std::string& arena,
                         int rounds, unsigned seed);

// Runs the helper to completion and returns its exit status.
int run_helper(const std::vector<std::string>& args);

// Seconds from t until now, for generous bounds on waits.
double seconds_since(std::chrono::steady_clock::time_point t);

}  // namespace filelock::test
