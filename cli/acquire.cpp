#include "acquire.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "duration.hpp"
#include "fd_lock.hpp"

namespace filelock::cli {
namespace {

std::string describe_fd(int fd) {
  std::string s = "descriptor " + std::to_string(fd);
  const auto path = descriptor_path(fd);
  if (!path.empty()) s += " ('" + path + "')";
  return s;
}

// Who else holds the file behind fd, from the kernel's list of locks.
std::optional<holder_info> other_holder(int fd) {
  const auto path = descriptor_path(fd);
  if (path.empty() || path.front() != '/') return std::nullopt;
  for (auto& h : file_lock(path).holders()) {
    if (h.pid != static_cast<std::int64_t>(::getpid())) return h;
  }
  return std::nullopt;
}

std::string describe_fd_busy(const acquire_args& a, bool timed_out) {
  const auto holder = other_holder(a.fd);
  const std::string who = holder ? "held by " + describe_holder(*holder)
                                 : "held by another process";
  if (!timed_out) return "cannot lock " + describe_fd(a.fd) + ": " + who;
  std::string why;
  const auto waited = parse_duration(a.lock.timeout, why);
  return "timed out after " +
         (waited ? format_duration(*waited) : a.lock.timeout) +
         " waiting for " + describe_fd(a.fd) + " (" + who + ")";
}

int report_fd_failure(int fd, const std::error_code& ec) {
  if (ec == std::errc::bad_file_descriptor) {
    say("cannot lock descriptor " + std::to_string(fd) +
        ": Bad file descriptor (open it in the shell first, e.g. exec " +
        std::to_string(fd) + ">FILE)");
    return to_int(exit_code::usage);
  }
  say("cannot lock " + describe_fd(fd) + ": " + ec.message());
  return to_int(code_for("lock", ec));
}

int acquire_fd(const acquire_args& a) {
  const auto& la = a.lock;
  const auto wait = la.wait();
  const auto started = std::chrono::steady_clock::now();
  if (la.verbose && (!wait || wait->count() > 0)) {
    say("locking " + describe_fd(a.fd) + " " +
        std::string(to_string(la.mode())));
  }

  std::error_code ec;
  const auto status = lock_descriptor(a.fd, la.mode(), wait, ec);
  switch (status) {
    case fd_lock_status::acquired:
      if (la.verbose) {
        say("got the lock after " +
            format_duration(std::chrono::steady_clock::now() - started));
      }
      return to_int(exit_code::ok);
    case fd_lock_status::busy:
    case fd_lock_status::timed_out:
      if (!la.quiet) {
        say(describe_fd_busy(a, status == fd_lock_status::timed_out));
      }
      return la.conflict_exit;
    case fd_lock_status::failed:
      break;
  }
  return report_fd_failure(a.fd, ec);
}

}  // namespace

CLI::App* setup_acquire(CLI::App& app, acquire_args& a) {
  auto* cmd = app.add_subcommand(
      "acquire", "Take a lock that stays held after this command returns");
  cmd->footer(
      "Example:\n  exec 9>/tmp/job.lock\n  filelock acquire -w 10 --fd 9\n"
      "  ... critical section ...\n  filelock release --fd 9");
  add_lock_options(*cmd, a.lock);
  cmd->add_option("--fd", a.fd,
                  "Lock the descriptor N that the calling shell opened "
                  "(exec N>FILE), as flock N does")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber)
      ->required();
  return cmd;
}

int run_acquire(const acquire_args& a) {
  if (!a.lock.file_mode.empty()) {
    say("acquire: --mode has no effect with --fd (the shell created the "
        "file)");
    return to_int(exit_code::usage);
  }
  return acquire_fd(a);
}

}  // namespace filelock::cli
