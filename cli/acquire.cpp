#include "acquire.hpp"

#include <cerrno>
#include <chrono>

#include "duration.hpp"
#include "fd_lock.hpp"
#include "filelock/inspect.hpp"
#include "json_output.hpp"
#include "process.hpp"
#include "slots.hpp"
#include "wait_line.hpp"

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
    if (h.pid != current_pid()) return h;
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

int report_fd_failure(const lock_args& la, int fd, const std::error_code& ec) {
  if (ec == std::errc::not_supported) {
    // fd_lock_win32.cpp: a lock cannot outlive us through a descriptor.
    say(std::string(la.flock_conventions ? "a descriptor number" : "--fd") +
        " is Unix-only: on Windows a lock ends with the process that took "
        "it (use a soft lock: filelock acquire LOCK)");
    return to_int(exit_code::usage);
  }
  if (ec == std::errc::bad_file_descriptor && la.flock_conventions) {
    say("cannot lock descriptor " + std::to_string(fd) + ": " + ec.message());
    return flock_status_for("lock", ec);
  }
  if (ec == std::errc::bad_file_descriptor) {
    say("cannot lock descriptor " + std::to_string(fd) +
        ": Bad file descriptor (open it in the shell first, e.g. exec " +
        std::to_string(fd) + ">FILE)");
    return to_int(exit_code::usage);
  }
  say("cannot lock " + describe_fd(fd) + ": " + ec.message());
  return status_for(la, "lock", ec);
}

int acquire_fd(const acquire_args& a) {
  const auto& la = a.lock;
  const auto wait = la.wait();
  const auto started = std::chrono::steady_clock::now();
  if (la.verbose && !la.flock_conventions && (!wait || wait->count() > 0)) {
    say("locking " + describe_fd(a.fd) + " " +
        std::string(to_string(la.mode())));
  }

  deadline until;
  if (wait) until = started + *wait;
  std::error_code ec;
  std::optional<wait_line> line;
  if (!wait || wait->count() > 0) {
    line.emplace(la, wait_line::settings{
                         describe_fd(a.fd),
                         [fd = a.fd] { return other_holder(fd); }, until});
  }
  const auto status = lock_descriptor(a.fd, la.mode(), wait, ec);
  if (line) line->stop();
  switch (status) {
    case fd_lock_status::acquired:
      if (la.verbose && la.flock_conventions) {
        say_on_stdout(
            "getting lock took " +
            flock_seconds(std::chrono::steady_clock::now() - started) +
            " seconds");
      } else if (la.verbose) {
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
  return report_fd_failure(la, a.fd, ec);
}

std::optional<std::chrono::milliseconds> lifetime_of(const acquire_args& a) {
  if (a.lifetime.empty()) return std::nullopt;
  std::string why;
  const auto d = parse_duration(a.lifetime, why);
  return std::chrono::ceil<std::chrono::milliseconds>(*d);
}

std::string local_host() {
  return host_name();
}

// Whether the soft lock at path is held by a marker without a record.
bool soft_owner_unknown(const std::string& path) {
  try {
    return inspect(utf8_path(path), lock_kind::soft).owner_unknown;
  } catch (const filelock::error&) {
    return false;  // gone or unreadable since: the plain message will do
  }
}

std::string describe_soft_busy(const acquire_args& a,
                               const std::optional<holder_info>& holder,
                               bool timed_out) {
  std::string who = "held by another process";
  if (a.slots > 0) {
    // The same shell may hold several slots: no "release it first" here.
    who = "all " + std::to_string(a.slots) + " slots held" +
          (holder ? ", one by " + describe_owner(*holder) : std::string());
  } else if (!holder && soft_owner_unknown(a.lock.path)) {
    // Most often the lock file of an OS lock (`filelock run`, flock(1)),
    // which is empty and stays on disk: the two kinds cannot share a path.
    who =
        "it holds no owner record (an OS lock's file, as `filelock run` or "
        "flock(1) leave, or a Python filelock 3.9 soft lock); soft and OS "
        "locks cannot share a path";
  } else if (holder) {
    who = "held by " + describe_owner(*holder);
    // A second acquire from the same shell is not reentrant: the lock
    // belongs to the shell, not to either command, and counting would make
    // one release leave it held or the other release free it early.
    if (holder->pid == owner_process(a.owner_pid) &&
        holder->host == local_host()) {
      who += ", the calling process itself: release it first";
    }
  }
  const std::string path = "'" + a.lock.path + "'";
  if (!timed_out) return "cannot lock " + path + ": " + who;
  std::string why;
  const auto waited = parse_duration(a.lock.timeout, why);
  return "timed out after " +
         (waited ? format_duration(*waited) : a.lock.timeout) +
         " waiting for " + path + " (" + who + ")";
}

void print_record(const acquire_args& a, const std::string& token,
                  unsigned slot) {
  json lock;
  try {
    lock = report_json(inspect(utf8_path(a.lock.path), lock_kind::soft));
  } catch (const filelock::error& e) {
    // We hold the lock; only the read-back failed. Say what we know.
    say("warning: cannot read back '" + a.lock.path +
        "': " + e.code().message());
    lock = json::object();
    put_path(lock, a.lock.path);
    lock["state"] = "held";
    lock["kind"] = "soft";
    lock["mode"] = "exclusive";
  }
  const auto lifetime = lifetime_of(a);
  lock["lifetime"] =
      lifetime ? json(std::chrono::duration<double>(*lifetime).count())
               : json(nullptr);
  lock["token"] = token;
  // Which slot of a semaphore is ours (release --slot takes it).
  if (slot > 0) lock["slot"] = slot;
  print_json({{"filelock", kJsonSchemaVersion}, {"lock", std::move(lock)}});
}

// Reports a lock not taken: on stderr (when show), and with --json as a
// document whose "error" has a stable code: "busy", "timed_out" (whatever
// -E makes the status), or the failure's name.
int refuse(const acquire_args& a, int status, std::string_view code,
           const std::string& message, bool show) {
  if (show) say(message);
  if (a.json) {
    json err = {{"code", code}, {"message", message}};
    print_json({{"filelock", kJsonSchemaVersion},
                {"lock", nullptr},
                {"error", std::move(err)},
                {"exit_status", status}});
  }
  return status;
}

int acquire_soft(const acquire_args& a) {
  const auto& la = a.lock;
  lock_options opts;
  opts.kind = lock_kind::soft;
  opts.file_mode = la.perms();
  opts.lifetime = lifetime_of(a);
  opts.owner_pid = owner_process(a.owner_pid);
  if (a.slots > 0) opts.slots = a.slots;
  file_lock lock(utf8_path(la.path), opts);

  const auto wait = la.wait();
  deadline until;
  if (wait) until = steady_clock::now() + *wait;
  if (la.verbose && (!wait || wait->count() > 0)) {
    say("waiting for soft lock on '" + la.path + "' for pid " +
        std::to_string(*opts.owner_pid));
  }
  const auto started = steady_clock::now();
  std::optional<wait_line> line;
  if (!wait || wait->count() > 0) {
    line.emplace(
        la, wait_line::settings{
                la.path, first_holder_of(la.path, lock_kind::soft), until});
  }
  auto r = lock.acquire_until(until, la.mode());
  if (line) line->stop();

  switch (r.status) {
    case acquire_status::acquired:
      break;
    case acquire_status::busy:
    case acquire_status::timed_out: {
      const bool timed_out = r.status == acquire_status::timed_out;
      return refuse(a, la.conflict_exit, timed_out ? "timed_out" : "busy",
                    describe_soft_busy(a, r.holder, timed_out), !la.quiet);
    }
    case acquire_status::cancelled:
    case acquire_status::failed:
      if (r.error == errc::shared_soft_unsupported) {
        return refuse(a, to_int(exit_code::usage), "usage",
                      "cannot lock '" + la.path +
                          "' shared: a lock that outlives the command is a "
                          "soft lock, and soft locks are exclusive only",
                      true);
      }
      const auto code = code_for(r.operation, r.error);
      return refuse(a, to_int(code), error_name(code),
                    describe_failure(r.operation, la.path, r.error), true);
  }

  const unsigned slot = r.lock.slot();
  const std::string token = r.lock.detach();
  if (la.verbose) {
    const std::string what = slot > 0 ? "slot " + std::to_string(slot) +
                                            " of " + std::to_string(a.slots) +
                                            " of soft semaphore"
                                      : std::string("soft lock");
    say("got " + what + " '" + la.path + "' for pid " +
        std::to_string(*opts.owner_pid) + " after " +
        format_duration(steady_clock::now() - started));
  }
  if (a.json) print_record(a, token, slot);
  return to_int(exit_code::ok);
}

}  // namespace

std::int64_t owner_process(std::int64_t owner_pid_option) {
  return owner_pid_option > 0 ? owner_pid_option : parent_pid();
}

CLI::App* setup_acquire(CLI::App& app, acquire_args& a) {
  auto* cmd = app.add_subcommand(
      "acquire", "Take a lock that stays held after this command returns");
  cmd->footer(
      "Examples:\n  filelock acquire -w 10 /tmp/job.lock   # owned by this "
      "shell\n  filelock release /tmp/job.lock\n\n  exec 9>/tmp/job.lock\n"
      "  filelock acquire --fd 9\n  filelock release --fd 9");
  add_lock_options(*cmd, a.lock);
  auto* path = cmd->add_option(
      "LOCK", a.lock.path,
      "The soft lock to take (a marker file holding the owner record)");
  auto* fd = cmd->add_option("--fd", a.fd,
                             "Instead, lock the descriptor N that the "
                             "calling shell opened (exec N>FILE), as flock N "
                             "does")
                 ->type_name("N")
                 ->check(CLI::NonNegativeNumber);
  fd->excludes(path);
  auto* lifetime =
      cmd->add_option("--lifetime", a.lifetime,
                      "Make the soft lock a lease that is stale DURATION "
                      "(seconds, or with a unit: 90s, 10m) after it was "
                      "taken, even if its owner lives (default: no lease)")
          ->type_name("DURATION")
          ->check([](const std::string& text) {
            std::string why;
            return parse_duration(text, why) ? std::string() : why;
          });
  auto* owner = cmd->add_option("--owner-pid", a.owner_pid,
                                "The process that owns the soft lock "
                                "(default: the caller, i.e. our parent)")
                    ->type_name("PID")
                    ->check(CLI::PositiveNumber);
  auto* js = cmd->add_flag("--json", a.json,
                           "Print the owner record, token included, as "
                           "JSON on stdout");
  auto* slots = add_slots_option(*cmd, a.slots);
  lifetime->excludes(fd);
  owner->excludes(fd);
  js->excludes(fd);
  slots->excludes(fd);
  return cmd;
}

int run_acquire(const acquire_args& a) {
  if (a.fd >= 0) {
    if (!a.lock.file_mode.empty()) {
      say("acquire: --mode has no effect with --fd (the shell created the "
          "file)");
      return to_int(exit_code::usage);
    }
    return acquire_fd(a);
  }
  if (a.lock.path.empty()) {
    say("acquire: give a LOCK path, or --fd N for a descriptor");
    return to_int(exit_code::usage);
  }
  if (auto bad = check_slots("acquire", a.lock, a.slots)) {
    say(*bad);
    return to_int(exit_code::usage);
  }
  return acquire_soft(a);
}

}  // namespace filelock::cli
