// Fixtures for the Windows tests: temporary directories and child
// processes whose output is captured, started with CreateProcessW so that
// the arguments they see are exactly the ones given here.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace filelock::test::win {

// A fresh directory, removed with everything in it at scope exit.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// A program running in the background; its stdout and stderr go to one
// pipe that read_line() and output() read.
class child {
 public:
  // argv[0] is the program. Arguments are quoted by the C runtime's rules.
  explicit child(const std::vector<std::string>& argv);
  ~child();  // terminates the program if it still runs
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  // The next line of output without its line end; false at end of output.
  bool read_line(std::string& line);
  // Blocks until the program printed "locked" on a line of its own (true)
  // or ended its output (false).
  bool wait_locked();
  // Everything not yet read, up to the end of output.
  std::string rest();
  // Waits for the program to exit and returns its exit status.
  int wait();
  // True when the program exited within the time given.
  bool exited_within(std::chrono::milliseconds t);
  void kill();
  unsigned long pid() const { return pid_; }

 private:
  void* process_ = nullptr;
  void* out_ = nullptr;
  unsigned long pid_ = 0;
  std::string buffered_;
};

struct outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs a program to completion.
outcome run(const std::vector<std::string>& argv);

// The command line that CreateProcessW gets for argv (the C runtime's
// quoting), for tests of the quoting itself.
std::wstring command_line_for(const std::vector<std::string>& argv);

// The filelock program and the test programs built next to it.
std::string filelock_exe();
std::string helper_exe();
std::string echo_args_exe();
std::string msvcrt_lock_exe();

double seconds_since(std::chrono::steady_clock::time_point t);

}  // namespace filelock::test::win
