#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <stdexcept>

#include "common.hpp"
#include "sections.hpp"

namespace bench {
namespace {

struct run_sample {
  double millis = 0;
  double max_rss_kib = 0;
};

// Linux folds the high-water RSS of the memory a process leaves at exec
// into its ru_maxrss, so a command forked from this (large) program is
// charged at least our anonymous pages. The wall time is taken on a direct
// fork; the peak memory through GNU time, a small C program whose own
// pages stay below what any of the commands uses.
run_sample run_once(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  const auto started = now_ns();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  while (wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) throw std::runtime_error("wait4 failed");
  }
  const auto ended = now_ns();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("'" + argv.front() + "' failed with status " +
                             std::to_string(status));
  }
  return {static_cast<double>(ended - started) / 1e6,
          static_cast<double>(usage.ru_maxrss)};
}

double peak_rss_kib(const setup& s, std::vector<std::string> argv) {
  const auto out = lock_path(s, "time-output");
  argv.insert(argv.begin(), {"/usr/bin/time", "-f", "%M", "-o", out});
  run_once(argv);
  std::ifstream in(out);
  double kib = 0;
  in >> kib;
  return kib;
}

}  // namespace

std::vector<command_figures> measure_overhead(const setup& s) {
  const auto path = lock_path(s, "overhead");
  return measure_commands(
      s,
      {
          {"true", {"true"}},
          {"flock L true", {"flock", path, "true"}},
          {"filelock run L -- true", {s.filelock, "run", path, "--", "true"}},
      },
      s.quick ? 20 : 300);
}

std::vector<command_figures> measure_commands(
    const setup& s, const std::vector<named_command>& commands, int rounds) {
  const int warmup = 5;
  const bool has_time = ::access("/usr/bin/time", X_OK) == 0;

  std::vector<std::vector<double>> millis(commands.size());
  std::vector<std::vector<double>> rss(commands.size());
  // Interleaved, so that a burst of load elsewhere hits all three alike.
  for (int i = 0; i < warmup + rounds; ++i) {
    for (std::size_t c = 0; c < commands.size(); ++c) {
      const auto r = run_once(commands[c].second);
      if (i < warmup) continue;
      millis[c].push_back(r.millis);
      if (!has_time) {
        rss[c].push_back(r.max_rss_kib);
      } else if ((i - warmup) % 10 == 0) {
        rss[c].push_back(peak_rss_kib(s, commands[c].second));
      }
    }
  }

  std::vector<command_figures> out;
  for (std::size_t c = 0; c < commands.size(); ++c) {
    out.push_back({commands[c].first, summarize(std::move(millis[c])),
                   summarize(std::move(rss[c]))});
  }
  return out;
}

}  // namespace bench
