#include "run.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>

#include "duration.hpp"
#include "etcd_cli.hpp"
#include "filelock/lock.hpp"
#include "process.hpp"
#include "slots.hpp"
#include "wait_line.hpp"

namespace filelock::cli {
namespace {

// Descendants learn what their ancestors hold from FILELOCK_HELD, a
// comma-separated list of "device:inode:mode:pid", so that a nested run on
// the same lock can tell it would wait for its own ancestor.
constexpr const char* kHeldVar = "FILELOCK_HELD";

struct ancestor_hold {
  std::int64_t pid = 0;
  lock_mode mode = lock_mode::exclusive;
};

// An ancestor that holds this lock: from the list of holders, and only
// where that list may be incomplete (OS locks off Linux) from
// FILELOCK_HELD, checked against liveness and ancestry as far as the
// platform allows. Where the list is complete, an ancestor missing from it
// does not hold the lock, whatever FILELOCK_HELD says: the entry may be
// forged, or the ancestor may have closed its descriptor (run -F), and
// trusting it would put us beside a stranger who holds the lock.
std::optional<ancestor_hold> find_ancestor_hold(const file_lock& lock,
                                                const std::string& path) {
  // A path that cannot be looked at (a directory, a FIFO) has no holder:
  // the wait that follows reports it properly. With --fair no first try
  // has reported it before we get here.
  std::vector<holder_info> holders;
  try {
    holders = lock.holders();
  } catch (const filelock::error&) {
    return std::nullopt;
  }
  for (const auto& h : holders) {
    if (h.pid > 0 && is_ancestor(h.pid)) return ancestor_hold{h.pid, h.mode};
  }
  if (lock.holders_complete()) return std::nullopt;
  const char* held = std::getenv(kHeldVar);
  const std::string key = file_key_of_path(path);
  if (held == nullptr || key.empty()) return std::nullopt;
  std::istringstream entries(held);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    // device:inode:mode:pid
    const auto third = entry.find(':', entry.find(':') + 1);
    const auto fourth = entry.rfind(':');
    if (third == std::string::npos || fourth <= third) continue;
    if (entry.substr(0, third) != key) continue;
    const auto pid = std::strtoll(entry.c_str() + fourth + 1, nullptr, 10);
    if (pid <= 0 || !is_ancestor(pid)) continue;
    const auto mode = entry.substr(third + 1, fourth - third - 1);
    return ancestor_hold{
        pid, mode == "shared" ? lock_mode::shared : lock_mode::exclusive};
  }
  return std::nullopt;
}

std::vector<std::string> child_argv(const run_args& a) {
  if (!a.shell_command.empty()) return shell_argv(a.shell_command);
  return a.command;
}

std::vector<std::string> child_env(const run_args& a, const guard* held) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(utf8_path(a.lock.path), ec);
  std::vector<std::string> env = {
      "FILELOCK_PATH=" + (ec ? a.lock.path : abs.lexically_normal().string()),
      "FILELOCK_MODE=" + std::string(to_string(a.lock.mode())),
      "FILELOCK_KIND=" +
          std::string(to_string(held ? held->kind() : lock_kind::os)),
  };
  if (held != nullptr && held->slot() > 0) {
    env.push_back("FILELOCK_SLOT=" + std::to_string(held->slot()));
  }
  // A soft lock has no descriptor; a nested run finds its ancestor as the
  // owner recorded in the marker instead.
  if (held != nullptr && held->native_handle() >= 0) {
    std::string list;
    if (const char* prev = std::getenv(kHeldVar)) list = prev;
    if (!list.empty()) list += ',';
    list += file_key(held->native_handle()) + ":" +
            std::string(to_string(a.lock.mode())) + ":" +
            std::to_string(current_pid());
    env.push_back(std::string(kHeldVar) + "=" + list);
  }
  return env;
}

int report_start_failure(const run_args& a, const std::string& what, int err) {
  say("cannot run '" + what + "': " + std::strerror(err));
  if (a.lock.flock_conventions) {
    // flock(1) exits EX_UNAVAILABLE for any command it cannot start.
    return to_int(err == ENOMEM ? exit_code::os_error : exit_code::unavailable);
  }
  return to_int(err == ENOENT ? exit_code::not_found
                              : exit_code::not_executable);
}

// Keeps a soft lock's lease fresh while the command runs, and notices when
// the lock is lost (its marker removed, or taken over after the lease ran
// out, e.g. while filelock was stopped: C09).
class lease_keeper {
 public:
  lease_keeper(const run_args& a, guard& held)
      : a_(a), held_(held), kill_(a.on_lost == "kill") {}

  // Every third of the lifetime, so that two late ticks in a row still
  // renew in time; without a lifetime, once a second, only to notice loss.
  std::chrono::milliseconds interval() const {
    const auto lifetime = lifetime_of(a_);
    if (!lifetime) return std::chrono::seconds(1);
    return std::max(*lifetime / 3, std::chrono::milliseconds(10));
  }

  // False when the command is to be terminated.
  bool tick() {
    if (lost_) return true;
    std::error_code ec;
    held_.refresh(ec);
    if (!ec) return true;
    if (ec != errc::lock_lost) {
      if (!warned_) say(describe_failure("refresh", a_.lock.path, ec));
      warned_ = true;
      return true;
    }
    lost_ = true;
    say("lost the lock on '" + a_.lock.path +
        "': its marker was removed or taken over" +
        (kill_ ? "; terminating the command" : ""));
    return !kill_;
  }

  bool lost() const { return lost_; }

  static std::optional<std::chrono::milliseconds> lifetime_of(
      const run_args& a) {
    if (a.lifetime.empty()) return std::nullopt;
    std::string why;
    auto d = parse_duration(a.lifetime, why);
    if (!d) return std::nullopt;
    return std::chrono::ceil<std::chrono::milliseconds>(*d);
  }

 private:
  const run_args& a_;
  guard& held_;
  bool kill_;
  bool lost_ = false;
  bool warned_ = false;
};

// Runs the command while `held` (null when an ancestor holds the lock for
// us) stays held, and returns the status filelock exits with.
int run_command(const run_args& a, guard* held, lease_keeper* lease = nullptr) {
  child_spec spec;
  spec.argv = child_argv(a);
  spec.env = child_env(a, held);
  if (lease != nullptr) {
    spec.tick_interval = lease->interval();
    spec.on_tick = [lease] { return lease->tick(); };
  }
  apply_time_limit(a, spec);
  if (held != nullptr) spec.lock_fd = held->native_handle();
  if (held != nullptr && a.inherit) spec.inherit_fd = held->native_handle();
  if (a.lock.verbose && a.lock.flock_conventions) {
    say_on_stdout("executing " + spec.argv.front());
  } else if (a.lock.verbose) {
    say("running " + spec.argv.front());
  }

  if (a.no_fork) {
    if (held != nullptr) spec.inherit_fd = held->native_handle();
    return report_start_failure(a, spec.argv.front(), exec_in_place(spec));
  }
  // The soft marker names us. Killed, we leave the command to the process
  // that outlives us (the guardian on Linux), and the lock must stay held
  // until that one has stopped it: it goes on record as the keeper before
  // the command starts.
  std::error_code keeper_failed;
  if (held != nullptr && held->kind() == lock_kind::soft) {
    spec.on_started = [held, &keeper_failed](std::int64_t pid, int&) {
      held->add_keeper(pid, keeper_failed);
      return !keeper_failed;
    };
  }
  const child_result r = run_child(spec);
  if (keeper_failed) {
    say(describe_failure("write", a.lock.path, keeper_failed));
    return status_for(a.lock, "write", keeper_failed);
  }
  if (r.status == child_result::how::not_started) {
    return report_start_failure(a, spec.argv.front(), r.start_error);
  }
  return time_limited_status(
      a, r, r.status == child_result::how::signalled ? 128 + r.code : r.code);
}

// Says, at release, that exclusion may have been broken while we held the
// lock (an operator deleted the file, as frappe once advised its users).
void warn_if_not_intact(const run_args& a, guard& held) {
  std::error_code ec;
  if (!held.is_intact(ec) && !ec) {
    say("warning: '" + a.lock.path +
        "' was removed or replaced while the command ran; other processes "
        "may have held the lock at the same time");
  }
}

lock_kind kind_of(const run_args& a) {
  if (a.kind == "os") return lock_kind::os;
  if (a.kind == "soft") return lock_kind::soft;
  return lock_kind::automatic;
}

std::string command_text(const run_args& a) {
  if (!a.shell_command.empty()) return a.shell_command;
  std::string text;
  for (const auto& word : a.command) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

// --fair with what has no fair queue; nothing when fine or not asked for.
std::optional<std::string> check_fair(const run_args& a) {
  if (!a.fair) return std::nullopt;
  if (a.kind == "soft") {
    return "run: --fair needs the OS lock; --kind soft has no fair queue";
  }
  if (a.slots > 0) return "run: --fair and --slots cannot be combined";
  if (a.lock.shared) return "run: --fair takes the lock exclusive; drop -s";
  return std::nullopt;
}

// What run does instead of a first try with --fair: behave as if the lock
// were busy, so that the ancestor check and the wait follow.
acquire_result busy_until_tried() {
  acquire_result r;
  r.status = acquire_status::busy;
  return r;
}

lock_options options_for(const run_args& a) {
  lock_options opts;
  opts.file_mode = a.lock.perms();
  opts.kind = kind_of(a);
  opts.lifetime = lease_keeper::lifetime_of(a);
  opts.command = command_text(a);
  opts.follow_symlink = a.lock.flock_conventions;
  opts.allow_directory = a.lock.flock_conventions;
  if (a.slots > 0) opts.slots = a.slots;
  opts.fair = a.fair;
  if (a.lock.verbose && !a.lock.flock_conventions) {
    // Both attempts (the first try and the wait) say the same things; and
    // run_run announces the wait itself, naming the holder, so the core's
    // plainer "waiting for ..." would only repeat it.
    auto said = std::make_shared<std::vector<std::string>>();
    opts.on_diagnostic = [said](std::string_view line) {
      if (line.starts_with("waiting for ")) return;
      if (std::find(said->begin(), said->end(), line) != said->end()) return;
      said->emplace_back(line);
      say(line);
    };
  }
  return opts;
}

// The soft lock's loss, which the kernel's lock cannot suffer this way,
// turns into exit status 79 whatever the command's status was.
int finish(const run_args& a, guard& held, lease_keeper& lease, int status) {
  if (held.kind() == lock_kind::soft) {
    lease.tick();  // a last look: lost while the command was ending?
    if (lease.lost()) {
      std::error_code ignored;
      held.release(ignored);
      return to_int(exit_code::lock_lost);
    }
  } else {
    warn_if_not_intact(a, held);
  }
  std::error_code ec;
  if (a.inherit) {
    // flock(1)'s behaviour, asked for: what the command left running with
    // the descriptor keeps the lock after we are gone.
    held.release_to_inheritors(ec);
  } else {
    held.release(ec);
  }
  if (ec) say(describe_failure("unlock", a.lock.path, ec));
  return status;
}

int acquire_and_run(const run_args& a) {
  const auto& la = a.lock;
  if (a.kind == "soft" && la.shared) {
    say("run: a soft lock is exclusive only; -s needs --kind os");
    return to_int(exit_code::usage);
  }
  if (auto bad = check_slots("run", a.lock, a.slots)) {
    say(*bad);
    return to_int(exit_code::usage);
  }
  if (auto bad = check_fair(a)) {
    say(*bad);
    return to_int(exit_code::usage);
  }
  if (!a.lifetime.empty()) {
    std::string why;
    const auto d = parse_duration(a.lifetime, why);
    if (d && d->count() <= 0) why = "a lifetime must be positive";
    if (!why.empty() || !d) {
      say("run: bad --lifetime '" + a.lifetime + "': " + why);
      return to_int(exit_code::usage);
    }
  }
  file_lock lock(utf8_path(la.path), options_for(a));
  // flock(1)'s --verbose reports the time to lock, free lock or not, and
  // says nothing while it waits.
  const bool tell_wait = la.verbose && !la.flock_conventions;
  const auto began = steady_clock::now();

  // One attempt first: it decides whether there is anybody to wait for,
  // and whether that somebody is our own ancestor (a nested run). Invoked
  // as flock, an ancestor's lock is not ours: `flock -n L true` inside
  // `flock L script` is how scripts ask whether L is held, and util-linux
  // answers busy.
  // Fair: no try first. It would queue and leave again, and a waiter
  // arriving meanwhile would be ahead when we queue for the wait.
  auto r = a.fair
               ? busy_until_tried()
               : lock.acquire_until(steady_clock::time_point::min(), la.mode());
  if (r.status == acquire_status::busy && !la.flock_conventions) {
    if (auto anc = find_ancestor_hold(lock, la.path)) {
      if (anc->mode == lock_mode::exclusive || la.mode() == anc->mode) {
        if (la.verbose) {
          say("'" + la.path + "' is already held " +
              std::string(to_string(anc->mode)) + " by ancestor pid " +
              std::to_string(anc->pid) + "; running under that lock");
        }
        return run_command(a, nullptr);
      }
      say("cannot lock '" + la.path + "' exclusive: ancestor pid " +
          std::to_string(anc->pid) +
          " holds it shared, and waiting would deadlock");
      return la.conflict_exit;
    }
  }
  if (r.status == acquire_status::busy) {
    const auto wait = la.wait();
    if (!wait || wait->count() > 0) {
      // Fair: the core says whom it queues behind, if anyone.
      if (tell_wait && !a.fair) {
        say("waiting for " + std::string(to_string(la.mode())) + " lock on '" +
            la.path + "'" +
            (r.holder ? " (held by " + describe_holder(*r.holder) + ")"
                      : std::string()));
      }
      deadline until;
      if (wait) until = steady_clock::now() + *wait;
      const auto started = steady_clock::now();
      wait_line line(
          la, {la.path, first_holder_of(lock.path(), kind_of(a)), until});
      r = lock.acquire_until(until, la.mode());
      line.stop();
      if (r.acquired() && tell_wait) {
        say("got the lock after " +
            format_duration(steady_clock::now() - started));
      }
    } else if (a.fair) {
      r = lock.acquire_until(steady_clock::time_point::min(), la.mode());
    }
  }

  switch (r.status) {
    case acquire_status::acquired:
      break;
    case acquire_status::busy:
    case acquire_status::timed_out:
      if (!la.quiet) {
        say(describe_busy(la, r.holder, r.status == acquire_status::timed_out));
      }
      return la.conflict_exit;
    case acquire_status::cancelled:
    case acquire_status::failed:
      say(describe_failure(r.operation, la.path, r.error));
      return status_for(la, r.operation, r.error);
  }

  if (la.verbose && la.flock_conventions) {
    say_on_stdout("getting lock took " +
                  flock_seconds(steady_clock::now() - began) + " seconds");
  }
  if (la.verbose && r.lock.kind() == lock_kind::soft) {
    say("holding a soft lock on '" + la.path + "'");
  }
  if (la.verbose && r.lock.slot() > 0) {
    say("holding slot " + std::to_string(r.lock.slot()) + " of " +
        std::to_string(a.slots) + " of '" + la.path + "'");
  }
  lease_keeper lease(a, r.lock);
  const bool soft = r.lock.kind() == lock_kind::soft;
  const int status = run_command(a, &r.lock, soft ? &lease : nullptr);
  return finish(a, r.lock, lease, status);
}

}  // namespace

CLI::App* setup_run(CLI::App& app, run_args& a) {
  auto* cmd = app.add_subcommand(
      "run", "Take a lock, run a command while holding it, release it");
  cmd->footer(
      "Example:\n  filelock run -w 10 /tmp/backup.lock -- rsync -a src/ "
      "dst/\nSee filelock(1) for exit statuses and more examples.");
  add_lock_options(*cmd, a.lock);
  cmd->add_option("LOCK", a.lock.path, "The lock file (created if missing)")
      ->required();
  cmd->add_option("-c,--command", a.shell_command, "Run STRING with /bin/sh -c")
      ->type_name("STRING");
  cmd->add_flag("--inherit", a.inherit,
                "Let the command (and what it starts) inherit the lock "
                "descriptor, as flock(1) does");
  cmd->add_flag("-F,--no-fork", a.no_fork,
                "Replace filelock with the command, which then holds the "
                "lock itself (no signal forwarding)");
  cmd->add_option("--kind", a.kind,
                  "os: the kernel's lock; soft: a marker file (any "
                  "filesystem, exclusive only); auto: os, or soft where the "
                  "filesystem refuses OS locks")
      ->check(CLI::IsMember({"os", "soft", "auto"}))
      ->default_str("auto");
  add_slots_option(*cmd, a.slots);
  cmd->add_flag("--fair", a.fair,
                "Waiters get LOCK in the order they asked for it (OS lock, "
                "exclusive; among --fair users only)");
  cmd->add_option("--lifetime", a.lifetime,
                  "Soft lock: a lease of DURATION (seconds, or with a "
                  "unit: 90s, 10m), renewed while the command runs; others "
                  "may break it once it runs out (default: no lease)")
      ->type_name("DURATION");
  cmd->add_option("--on-lost", a.on_lost,
                  "When the lock is lost while the command runs (a soft "
                  "lock's marker taken, an etcd lease gone): kill: stop "
                  "the command; warn: only report. Exit status 79 either "
                  "way. Default: warn for soft locks, kill for etcd")
      ->check(CLI::IsMember({"kill", "warn"}));
  // The name this option had before --on-lost covered every kind; kept so
  // that scripts using it still work, but no longer shown.
  cmd->add_flag_callback(
         "--kill-on-loss", [&a] { a.on_lost = "kill"; },
         "Same as --on-lost kill")
      ->group("");
  cmd->add_option("--max-runtime", a.max_runtime,
                  "Send the command SIGTERM after DURATION (seconds, or "
                  "with a unit: 30m, 2h) and exit 124 once it is gone, as "
                  "timeout(1) does (default: no limit)")
      ->type_name("DURATION");
  cmd->add_option("--kill-after", a.kill_after,
                  "With --max-runtime: SIGKILL the command and everything "
                  "it started DURATION (seconds, or with a unit) after the "
                  "SIGTERM (default 10s; 0: never)")
      ->type_name("DURATION");
  cmd->add_flag("-o,--close", a.close_fd,
                "Do not let the command inherit the lock (the default; "
                "accepted for flock(1) scripts)");
  // `filelock run L cmd -x` must give -x to cmd: stop option parsing at the
  // command's first word, as flock(1) does. (Everything after `--` has been
  // taken off before CLI11 sees it; see main.cpp.)
  cmd->prefix_command();
  return cmd;
}

std::optional<std::string> take_command(run_args& a,
                                        const std::vector<std::string>& rest,
                                        const std::vector<std::string>* after) {
  // With prefix_command, CLI11 leaves unknown options in `rest` too, ahead
  // of the command's first word: those are the user's mistakes.
  if (after != nullptr) {
    if (!rest.empty()) {
      return "run: unexpected argument '" + rest.front() + "' before --";
    }
    a.command = *after;
    return std::nullopt;
  }
  if (!rest.empty() && rest.front().size() > 1 && rest.front()[0] == '-') {
    return "run: unknown option '" + rest.front() +
           "' (a command that starts with '-' goes after --)";
  }
  a.command = rest;
  return std::nullopt;
}

namespace {

// Parses --max-runtime and --kill-after into a; a usage message if bad.
std::optional<std::string> parse_time_limit(run_args& a) {
  if (a.max_runtime.empty()) {
    if (a.kill_after.empty()) return std::nullopt;
    return "run: --kill-after needs --max-runtime";
  }
  std::string why;
  const auto limit = parse_duration(a.max_runtime, why);
  if (limit && limit->count() <= 0) why = "the time limit must be positive";
  if (!limit || !why.empty()) {
    return "run: bad --max-runtime '" + a.max_runtime + "': " + why;
  }
  // A limit below a millisecond still gets one: zero means none.
  a.max_runtime_ms =
      std::max(std::chrono::ceil<std::chrono::milliseconds>(*limit),
               std::chrono::milliseconds(1));
  if (a.kill_after.empty()) return std::nullopt;
  const auto grace = parse_duration(a.kill_after, why);
  if (!grace) return "run: bad --kill-after '" + a.kill_after + "': " + why;
  a.kill_after_ms = std::chrono::ceil<std::chrono::milliseconds>(*grace);
  if (grace->count() > 0 && a.kill_after_ms.count() == 0) {
    a.kill_after_ms = std::chrono::milliseconds(1);
  }
  return std::nullopt;
}

}  // namespace

void apply_time_limit(const run_args& a, child_spec& spec) {
  if (a.max_runtime_ms.count() <= 0) return;
  spec.max_runtime = a.max_runtime_ms;
  if (spec.kill_after.count() == 0 ||
      (a.kill_after_ms.count() > 0 && a.kill_after_ms < spec.kill_after)) {
    spec.kill_after = a.kill_after_ms;
  }
}

int time_limited_status(const run_args& a, const child_result& r, int status) {
  if (!r.timed_out) return status;
  say("the command ran longer than --max-runtime " +
      format_duration(a.max_runtime_ms) + " and was stopped");
  return to_int(exit_code::child_timeout);
}

int run_run(const run_args& in) {
  run_args a = in;
  if (auto bad = parse_time_limit(a)) {
    say(*bad);
    return to_int(exit_code::usage);
  }
  if (a.no_fork && a.max_runtime_ms.count() > 0) {
    say("run: -F and --max-runtime contradict each other (nothing would "
        "be left to stop the command)");
    return to_int(exit_code::usage);
  }
  if (a.command.empty() && a.shell_command.empty()) {
    say("run: no command given (use LOCK -- COMMAND or LOCK -c 'STRING')");
    return to_int(exit_code::usage);
  }
  if (!a.shell_command.empty() && !a.command.empty()) {
    say("run: give either -c STRING or a command after --, not both");
    return to_int(exit_code::usage);
  }
  // flock(1) tries to run an empty name and reports that it cannot.
  if (!a.command.empty() && a.command.front().empty() &&
      !a.lock.flock_conventions) {
    say("run: the command is an empty string");
    return to_int(exit_code::usage);
  }
  if (a.inherit && a.close_fd) {
    say("run: --inherit and -o/--close contradict each other");
    return to_int(exit_code::usage);
  }
  // To flock(1), "etcd:x" is a file name like any other.
  if (is_etcd_lock(a.lock.path) && !a.lock.flock_conventions) {
    if (auto bad = check_slots("run", a.lock, a.slots)) {
      say(*bad);
      return to_int(exit_code::usage);
    }
    return run_etcd(a);
  }
  return acquire_and_run(a);
}

}  // namespace filelock::cli
