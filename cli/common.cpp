#include "common.hpp"

#include <cerrno>
#include <cstdio>
#include <iostream>

#include "duration.hpp"
#include "slots.hpp"
#include "wait_line.hpp"

namespace filelock::cli {
namespace {

std::string quote(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

// CLI11 check: an empty string means the value is accepted.
std::string check_duration(const std::string& text) {
  std::string why;
  return parse_duration(text, why) ? std::string() : why;
}

std::optional<std::filesystem::perms> parse_mode(const std::string& text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  unsigned bits = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    bits = bits * 8 + static_cast<unsigned>(c - '0');
  }
  return static_cast<std::filesystem::perms>(bits);
}

std::string check_mode(const std::string& text) {
  return parse_mode(text)
             ? std::string()
             : "invalid mode '" + text + "' (expected octal digits, e.g. 0664)";
}

}  // namespace

std::optional<std::chrono::nanoseconds> lock_args::wait() const {
  if (nonblock) return std::chrono::nanoseconds::zero();
  if (timeout.empty()) return std::nullopt;
  std::string why;
  return parse_duration(timeout, why);
}

std::optional<std::filesystem::perms> lock_args::perms() const {
  if (file_mode.empty()) return std::nullopt;
  return parse_mode(file_mode);
}

void add_lock_options(CLI::App& cmd, lock_args& a) {
  auto* sh =
      cmd.add_flag("-s,--shared", a.shared, "Take a shared (reader) lock");
  auto* ex = cmd.add_flag("-x,-e,--exclusive", a.exclusive,
                          "Take an exclusive (writer) lock (default)");
  sh->excludes(ex);
  auto* nb = cmd.add_flag("-n,--nonblock,--nb", a.nonblock,
                          "Fail at once if the lock is held (same as -w 0)");
  auto* w = cmd.add_option("-w,--timeout,--wait", a.timeout,
                           "Give up after DURATION: seconds, or with a unit "
                           "(500ms, 2m, 1h); 0 tries once (default: wait "
                           "forever)")
                ->type_name("DURATION")
                ->check(check_duration);
  nb->excludes(w);
  cmd.add_option("-E,--conflict-exit-code", a.conflict_exit,
                 "Exit status when the lock is busy or the wait times out "
                 "(1-255, default 75)")
      ->type_name("N")
      ->check(CLI::Range(1, 255));
  cmd.add_option("--mode", a.file_mode,
                 "Permissions of a lock file this command creates, in "
                 "octal, applied regardless of umask (default: 0666 less "
                 "the umask)")
      ->type_name("OCTAL")
      ->check(check_mode);
  auto* v = cmd.add_flag("-v,--verbose", a.verbose,
                         "Say on stderr what is waited for and how long "
                         "it took");
  auto* q = cmd.add_flag("-q,--quiet", a.quiet,
                         "Say nothing when the lock is busy or the wait "
                         "times out");
  v->excludes(q);
}

namespace {

std::string& program_name() {
  static std::string name = "filelock";
  return name;
}

void say_to(std::FILE* stream, std::string_view text) {
  std::string line = program_name() + ": ";
  line += text;
  line += '\n';
  // On stderr a live wait line may be showing: it is redrawn below.
  if (stream == stderr) return write_message_line(line);
  std::fwrite(line.data(), 1, line.size(), stream);
  std::fflush(stream);
}

bool is_open_failure(std::string_view operation) {
  return operation != "lock" && operation != "unlock";
}

}  // namespace

void say(std::string_view text) {
  say_to(stderr, text);
}

void say_on_stdout(std::string_view text) {
  say_to(stdout, text);
}

void set_program_name(std::string name) {
  program_name() = std::move(name);
}

int flock_status_for(std::string_view operation, const std::error_code& ec) {
  // What our library refuses at open time (a symlink, a FIFO), util-linux
  // would have failed to open or to lock; either way the path is unusable.
  if (ec == errc::symlink_refused || ec == errc::not_a_regular_file ||
      ec == std::errc::is_a_directory) {
    return to_int(exit_code::cannot_open);
  }
  if (ec == std::errc::no_lock_available ||
      ec == std::errc::not_enough_memory ||
      ec == std::errc::too_many_files_open ||
      ec == std::errc::too_many_files_open_in_system) {
    return to_int(exit_code::os_error);
  }
  if (!is_open_failure(operation)) return to_int(exit_code::data_error);
  if (ec == std::errc::read_only_file_system ||
      ec == std::errc::no_space_on_device) {
    return to_int(exit_code::cannot_create);
  }
  return to_int(exit_code::cannot_open);
}

int status_for(const lock_args& args, std::string_view operation,
               const std::error_code& ec) {
  if (args.flock_conventions) return flock_status_for(operation, ec);
  return to_int(code_for(operation, ec));
}

exit_code code_for(std::string_view operation, const std::error_code& ec) {
  if (ec == errc::busy || ec == errc::timed_out || ec == errc::would_deadlock) {
    return exit_code::busy;
  }
  if (ec == errc::symlink_refused || ec == errc::not_a_regular_file ||
      ec == errc::fair_queue_not_a_directory) {
    return exit_code::cannot_open;
  }
  if (ec == errc::lock_lost) return exit_code::lock_lost;
  if (ec == errc::exclusive_needs_write_access) {
    return exit_code::no_permission;
  }
  if (ec == errc::shared_soft_unsupported) return exit_code::usage;
  // A name is used with one slot count only: asking with another is the
  // caller's mistake, not the lock's state.
  if (ec == errc::slots_mismatch || ec == errc::slots_unsupported) {
    return exit_code::usage;
  }
  if (ec == errc::fair_unsupported) return exit_code::usage;
  if (is_locking_unsupported(ec)) return exit_code::io_error;
  // The library also reports conditions through std::errc (the generic
  // category), whose values are errno's too.
  if (ec.category() != std::system_category() &&
      ec.category() != std::generic_category()) {
    return exit_code::internal;
  }
  switch (ec.value()) {
    case EACCES:
    case EPERM:
      return exit_code::no_permission;
    case EROFS:
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
      return operation == "create" ? exit_code::cannot_create
                                   : exit_code::io_error;
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case ENXIO:
    case ENODEV:
      return exit_code::cannot_open;
    case EIO:
    case EBADF:
      return exit_code::io_error;
    default:
      return exit_code::internal;
  }
}

std::string describe_failure(std::string_view operation,
                             const std::filesystem::path& path,
                             const std::error_code& ec) {
  if (ec == errc::slots_mismatch) return describe_slots_mismatch(path);
  std::string msg = "cannot " + std::string(operation) + " " + quote(path) +
                    ": " + ec.message();
  const auto parent = path.parent_path();
  std::error_code ignored;
  if (ec == std::errc::no_such_file_or_directory && !parent.empty() &&
      !std::filesystem::exists(parent, ignored)) {
    msg += " (directory " + quote(parent) + " does not exist)";
  } else if (ec == std::errc::no_such_file_or_directory &&
             std::filesystem::is_symlink(path, ignored)) {
    msg += " (a symbolic link to nothing; its target is not created)";
  } else if (ec == std::errc::read_only_file_system) {
    msg += " (put the lock on a writable filesystem)";
  } else if (is_locking_unsupported(ec)) {
    // Only --kind os gets here: auto falls back to the soft lock.
    msg +=
        " (this filesystem does not support OS locks; --kind auto or soft "
        "takes a soft lock instead)";
  } else if (ec == std::errc::filename_too_long) {
    msg += " (a name is at most 255 bytes, a path at most 4095)";
  }
  return msg;
}

std::string describe_holder(const holder_info& h) {
  std::string s = "pid " + std::to_string(h.pid);
  if (h.command.empty()) return s;
  // The holder's command line is anybody's text (`sh -c` scripts span
  // lines); control characters would break our one-line messages.
  std::string command = h.command;
  for (char& c : command) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s + " (" + command + ")";
}

std::string describe_busy(const lock_args& args,
                          const std::optional<holder_info>& holder,
                          bool timed_out) {
  const std::string who = holder ? "held by " + describe_holder(*holder)
                                 : "held by another process";
  if (timed_out) {
    std::string waited = args.timeout.empty() ? "?" : args.timeout;
    std::string why;
    if (auto d = parse_duration(args.timeout, why)) {
      waited = format_duration(*d);
    }
    return "timed out after " + waited + " waiting for " + quote(args.path) +
           " (" + who + ")";
  }
  return "cannot lock " + quote(args.path) + ": " + who;
}

}  // namespace filelock::cli
