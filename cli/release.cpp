#include "release.hpp"

#include "acquire.hpp"
#include "fd_lock.hpp"
#include "filelock/inspect.hpp"
#include "json_output.hpp"
#include "process.hpp"
#include "slots.hpp"

namespace filelock::cli {
namespace {

int release_fd(const release_args& a) {
  std::error_code ec;
  unlock_descriptor(a.fd, ec);
  if (ec == std::errc::not_supported) {
    // fd_lock_win32.cpp: a lock cannot outlive us through a descriptor.
    say(std::string(a.flock_conventions ? "a descriptor number" : "--fd") +
        " is Unix-only: on Windows a lock ends with the process that took "
        "it (use a soft lock: filelock acquire LOCK)");
    return to_int(exit_code::usage);
  }
  if (ec && a.flock_conventions) {
    say("cannot unlock descriptor " + std::to_string(a.fd) + ": " +
        ec.message());
    return flock_status_for("unlock", ec);
  }
  if (ec == std::errc::bad_file_descriptor) {
    say("cannot unlock descriptor " + std::to_string(a.fd) +
        ": Bad file descriptor (it is not open in the calling shell)");
    return to_int(exit_code::usage);
  }
  if (ec) {
    say("cannot unlock descriptor " + std::to_string(a.fd) + ": " +
        ec.message());
    return to_int(code_for("unlock", ec));
  }
  if (a.verbose) say("released descriptor " + std::to_string(a.fd));
  return to_int(exit_code::ok);
}

std::string_view outcome_name(release_outcome o) {
  switch (o) {
    case release_outcome::released:
      return "released";
    case release_outcome::not_held:
      return "not_held";
    case release_outcome::not_owner:
      return "not_owner";
    case release_outcome::os_locked:
      return "os_locked";
  }
  return "unknown";
}

std::string owner_text(const release_report& rep) {
  if (rep.owner_unknown) return "an unknown owner";
  if (rep.owner) return describe_owner(*rep.owner);
  return "another process";
}

// The status and the message (empty: nothing to say) for an outcome.
std::pair<exit_code, std::string> judge(const release_args& a,
                                        const release_report& rep,
                                        std::int64_t caller, unsigned slot) {
  const std::string p =
      (slot > 0 ? "slot " + std::to_string(slot) + " of " : "") + "'" + a.path +
      "'";
  switch (rep.outcome) {
    case release_outcome::released:
      if (!a.verbose) return {exit_code::ok, {}};
      return {exit_code::ok,
              "released " + p + " (was held by " + owner_text(rep) + ")"};
    case release_outcome::not_held:
      // Nothing to remove is what --force asks for; without it, the caller
      // believed it held a lock that is gone (released twice, or broken
      // as stale): exclusion may have failed, and a script should know.
      if (a.force) {
        return {exit_code::ok, a.verbose ? p + " was not held" : ""};
      }
      return {exit_code::lock_lost,
              "cannot release " + p +
                  ": not held (already released, or broken as stale)"};
    case release_outcome::not_owner:
      return {exit_code::no_permission,
              "cannot release " + p + ": held by " + owner_text(rep) +
                  ", not by pid " + std::to_string(caller) +
                  (a.token.empty() ? "" : " nor with this token") +
                  " (--force releases it anyway)"};
    case release_outcome::os_locked:
      return {exit_code::no_permission,
              "cannot release " + p + ": it is an OS lock held by " +
                  owner_text(rep) +
                  ", which the kernel releases when its holder exits"};
  }
  return {exit_code::internal, "unknown release outcome"};
}

// Whether a slot's marker names the caller: the token, or the owner pid on
// this host (release_soft then checks the start time too).
bool slot_is_callers(const slot_report& s, const release_options& opts) {
  if (!s.holder) return false;
  if (!opts.token.empty()) return s.holder->token == opts.token;
  return s.holder->pid == *opts.owner_pid && s.holder->host == host_name();
}

// On a semaphore's name: the slot to release, as `slot`, with its file.
// Empty when the name is no semaphore; a message when no single slot is
// meant (nothing of the caller's: the report goes to the first holder's
// slot, for its message; several: say which).
struct slot_choice {
  unsigned slot = 0;
  std::filesystem::path file;
  std::string usage;
  bool os = false;
};

slot_choice choose_slot(const release_args& a, const release_options& opts) {
  slot_choice out;
  const auto rep = inspect(utf8_path(a.path));
  if (rep.slots == 0) {
    if (a.slot > 0) {
      out.usage = "release: '" + a.path +
                  "' is not a semaphore (it records no slot count); drop "
                  "--slot";
    }
    return out;
  }
  if (rep.kind == lock_kind::os) {
    out.os = true;
    return out;
  }
  if (a.slot > rep.slots) {
    out.usage = "release: '" + a.path + "' has " + std::to_string(rep.slots) +
                " slots; there is no slot " + std::to_string(a.slot);
    return out;
  }
  std::vector<unsigned> mine;
  for (const auto& s : rep.slot_list) {
    if (a.slot == s.number || (a.slot == 0 && slot_is_callers(s, opts))) {
      mine.push_back(s.number);
    }
  }
  if (mine.size() > 1) {
    std::string list;
    for (auto n : mine) list += (list.empty() ? "" : ", ") + std::to_string(n);
    out.usage = "release: the caller holds slots " + list + " of '" + a.path +
                "': say which with --slot N";
    return out;
  }
  if (mine.empty() && a.force) {
    out.usage = "release: --force on the semaphore '" + a.path +
                "' needs --slot N: it would not know which slot to free";
    return out;
  }
  if (mine.empty()) {
    // Nobody's slot is ours: judged on the first held one (not_owner), or
    // on slot 1 when all are free (not_held).
    out.slot = 1;
    for (const auto& s : rep.slot_list) {
      if (s.holder) {
        out.slot = s.number;
        break;
      }
    }
  } else {
    out.slot = mine.front();
  }
  out.file = rep.slot_list[out.slot - 1].file;
  return out;
}

int release_soft_lock(const release_args& a) {
  release_options opts;
  const auto caller = owner_process(a.owner_pid);
  opts.owner_pid = caller;
  opts.token = a.token;
  opts.force = a.force;

  json doc = {{"filelock", kJsonSchemaVersion}};
  put_path(doc, a.path);
  exit_code code = exit_code::ok;
  try {
    const auto chosen = choose_slot(a, opts);
    if (!chosen.usage.empty()) {
      say(chosen.usage);
      return to_int(exit_code::usage);
    }
    if (chosen.os) {
      // The record file of an OS semaphore is nobody's marker, not even
      // with --force: its slots end with their holders.
      const auto message = "cannot release '" + a.path +
                           "': it is a semaphore of OS locks (filelock run "
                           "--slots), whose slots the kernel releases when "
                           "their holders exit";
      say(message);
      return to_int(exit_code::no_permission);
    }
    release_report rep;
    if (chosen.slot > 0) {
      rep = release_soft(chosen.file, opts);
      doc["slot"] = chosen.slot;
    } else {
      rep = release_soft(utf8_path(a.path), opts);
    }
    const auto [c, message] = judge(a, rep, caller, chosen.slot);
    code = c;
    if (!message.empty() && (code != exit_code::ok || !a.quiet)) {
      say(message);
    }
    doc["outcome"] = outcome_name(rep.outcome);
    doc["owner"] = rep.owner ? holder_json(*rep.owner) : json(nullptr);
    doc["owner_unknown"] = rep.owner_unknown;
    if (code != exit_code::ok) doc["error"] = error_json(code, message);
  } catch (const filelock::error& e) {
    code = code_for(e.operation(), e.code());
    const auto message = describe_failure(e.operation(), a.path, e.code());
    say(message);
    doc["outcome"] = "error";
    doc["error"] = error_json(code, message);
  }
  doc["exit_status"] = to_int(code);
  if (a.json) print_json(doc);
  return to_int(code);
}

}  // namespace

CLI::App* setup_release(CLI::App& app, release_args& a) {
  auto* cmd = app.add_subcommand(
      "release", "Give back a lock taken with filelock acquire");
  cmd->footer(
      "Exit status: 0 released, 77 someone else owns it, 79 it was not "
      "held.\nExample:\n  filelock release /tmp/job.lock");
  auto* path = cmd->add_option("LOCK", a.path, "The soft lock to release");
  auto* fd = cmd->add_option("--fd", a.fd,
                             "Instead, unlock the descriptor N that the "
                             "calling shell opened, as flock -u N does")
                 ->type_name("N")
                 ->check(CLI::NonNegativeNumber);
  fd->excludes(path);
  auto* token = cmd->add_option("--token", a.token,
                                "Release as the holder of this token "
                                "(printed by acquire --json; default: "
                                "judge by the owner process)")
                    ->type_name("TOKEN");
  auto* owner = cmd->add_option("--owner-pid", a.owner_pid,
                                "Release as this owner process (default: "
                                "the caller, i.e. our parent)")
                    ->type_name("PID")
                    ->check(CLI::PositiveNumber);
  auto* force =
      cmd->add_flag("--force", a.force, "Release a soft lock whoever owns it");
  auto* slot = cmd->add_option("--slot", a.slot,
                               "A soft semaphore's slot K (acquire --json "
                               "says which; default: the caller's slot)")
                   ->type_name("K")
                   ->check(CLI::Range(1u, kMaxSlots));
  auto* js =
      cmd->add_flag("--json", a.json, "Print the outcome as JSON on stdout");
  for (auto* o : {token, owner, force, js, slot}) o->excludes(fd);
  auto* v = cmd->add_flag("-v,--verbose", a.verbose, "Say what was released");
  auto* q = cmd->add_flag("-q,--quiet", a.quiet,
                          "Say nothing unless the release fails");
  v->excludes(q);
  return cmd;
}

int run_release(const release_args& a) {
  if (a.fd >= 0) return release_fd(a);
  if (a.path.empty()) {
    say("release: give a LOCK path, or --fd N for a descriptor");
    return to_int(exit_code::usage);
  }
  return release_soft_lock(a);
}

}  // namespace filelock::cli
