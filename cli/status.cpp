#include "status.hpp"

#include <algorithm>
#include <iostream>
#include <sstream>

#include "etcd_cli.hpp"
#include "json_output.hpp"
#include "process.hpp"

namespace filelock::cli {
namespace {

// One lock's outcome: its report, or why it could not be looked at.
struct status_entry {
  std::string path;
  std::optional<lock_report> report;
  exit_code error = exit_code::ok;
  std::string message;
};

status_entry look_at(const std::string& path, lock_kind hint) {
  status_entry e;
  e.path = path;
  try {
    e.report = inspect(utf8_path(path), hint);
  } catch (const filelock::error& err) {
    e.error = code_for(err.operation(), err.code());
    e.message = describe_failure(err.operation(), path, err.code());
  }
  return e;
}

std::string state_line(const lock_report& r) {
  std::string s(to_string(r.state));
  if (r.state == lock_state::stale && !r.stale_reason.empty()) {
    s += " (" + r.stale_reason + ")";
  } else if (r.owner_unknown) {
    s += " (owner unknown";
    if (!r.record_error.empty()) s += ": " + r.record_error;
    s += ")";
  }
  return s;
}

void print_holder(std::ostream& out, const lock_report& r,
                  const holder_info& h) {
  holder_info who = h;
  who.command.clear();  // on a line of its own below
  who.since.reset();
  out << "  holder:  " << describe_owner(who) << '\n';
  if (h.since) {
    // The kernel does not say when an OS lock was taken; the core reports
    // the holder process's start time, which is no later.
    out << "  since:   " << rfc3339(*h.since)
        << (r.kind == lock_kind::os ? " (process start)" : "") << '\n';
  }
  if (h.expires) out << "  expires: " << rfc3339(*h.expires) << '\n';
  if (h.keeper_pid > 0) {
    out << "  keeper:  pid " << h.keeper_pid
        << " (keeps it held until the command is gone)\n";
  }
  if (!h.command.empty()) {
    out << "  command: " << one_line(h.command) << '\n';
  }
}

// A semaphore: its slots in order, free ones too, so that a full one and
// one with room read differently.
void print_slots(std::ostream& out, const lock_report& r) {
  std::size_t held = 0;
  for (const auto& s : r.slot_list) held += s.held ? 1 : 0;
  out << "  kind:    " << to_string(r.kind) << '\n';
  out << "  slots:   " << r.slots << " (" << held << " held)\n";
  for (const auto& s : r.slot_list) {
    out << "  slot " << s.number << ":  "
        << (s.held    ? "held"
            : s.stale ? "stale"
                      : "free");
    if (s.stale && !s.stale_reason.empty())
      out << " (" << s.stale_reason << ')';
    out << '\n';
    if (s.holder) print_holder(out, r, *s.holder);
  }
}

// A fair queue: its live tickets, oldest first; the holder's own is
// marked, since a fair holder keeps its ticket until it releases.
void print_queue(std::ostream& out, const lock_report& r) {
  if (r.queue.empty()) return;
  out << "  queue:   " << r.queue.size() << " (fair, oldest first)\n";
  for (const auto& q : r.queue) {
    const bool holds = std::any_of(
        r.holders.begin(), r.holders.end(),
        [&](const holder_info& h) { return h.pid == q.waiter.pid; });
    out << "  ticket " << q.ticket << ": " << describe_owner(q.waiter)
        << (holds && q.waiter.pid > 0 ? " [holds the lock]" : "") << '\n';
  }
}

void print_text(std::ostream& out, const lock_report& r) {
  out << r.path.string() << '\n';
  out << "  state:   " << state_line(r) << '\n';
  if (r.slots > 0) return print_slots(out, r);
  if (r.state != lock_state::free) {
    out << "  kind:    " << to_string(r.kind) << '\n';
    out << "  mode:    " << to_string(r.mode) << '\n';
    for (const auto& h : r.holders) print_holder(out, r, h);
  }
  print_queue(out, r);
}

json entry_json(const status_entry& e) {
  if (e.report) return report_json(*e.report);
  json obj = json::object();
  put_path(obj, e.path);
  obj["state"] = "error";
  obj["kind"] = nullptr;
  obj["mode"] = nullptr;
  obj["holders"] = json::array();
  obj["error"] = error_json(e.error, e.message);
  return obj;
}

}  // namespace

int status_for(lock_state state) {
  switch (state) {
    case lock_state::held:
      return 0;
    case lock_state::free:
      return 1;
    case lock_state::stale:
      return 2;
  }
  return to_int(exit_code::internal);
}

int combine_status(int so_far, int next) {
  constexpr int first_error = to_int(exit_code::usage);
  if (so_far >= first_error) return so_far;
  if (next >= first_error) return next;
  return std::max(so_far, next);
}

void add_kind_option(CLI::App& cmd, std::string& kind) {
  cmd.add_option("--kind", kind,
                 "What to look for: os (kernel locks only), soft (the file "
                 "is a soft marker, even an empty one) or auto (default)")
      ->type_name("KIND")
      ->check(CLI::IsMember({"os", "soft", "auto"}));
}

lock_kind parse_kind(const std::string& kind) {
  if (kind == "os") return lock_kind::os;
  if (kind == "soft") return lock_kind::soft;
  return lock_kind::automatic;
}

CLI::App* setup_status(CLI::App& app, status_args& a) {
  auto* cmd = app.add_subcommand(
      "status", "Tell whether locks are free, held (by whom) or stale");
  cmd->footer(
      "Exit status: 0 all held, 1 some free, 2 some stale, >= 64 an "
      "error.\nExample:\n  filelock status --json /tmp/backup.lock");
  cmd->add_flag("--json", a.json, "Print one JSON document on stdout");
  add_kind_option(*cmd, a.kind);
  cmd->add_option("LOCK", a.paths, "Lock files to look at (never created)")
      ->required();
  return cmd;
}

int run_status(const status_args& a) {
  const lock_kind hint = parse_kind(a.kind);
  int status = 0;
  json locks = json::array();
  std::ostringstream text;
  bool first = true;

  for (const auto& path : a.paths) {
    if (is_etcd_lock(path)) {
      auto e = status_etcd(path);
      status = combine_status(status, e.status);
      if (a.json) {
        locks.push_back(std::move(e.doc));
      } else if (!e.text.empty()) {
        if (!first) text << '\n';
        text << e.text;
        first = false;
      }
      continue;
    }
    const auto e = look_at(path, hint);
    if (!e.report) {
      say(e.message);
      status = combine_status(status, to_int(e.error));
    } else {
      status = combine_status(status, status_for(e.report->state));
      if (!a.json) {
        if (!first) text << '\n';
        print_text(text, *e.report);
        first = false;
      }
    }
    if (a.json) locks.push_back(entry_json(e));
  }

  if (a.json) {
    print_json({{"filelock", kJsonSchemaVersion},
                {"locks", std::move(locks)},
                {"exit_status", status}});
  } else {
    std::cout << text.str() << std::flush;
  }
  return status;
}

}  // namespace filelock::cli
