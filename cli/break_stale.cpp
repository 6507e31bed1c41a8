#include "break_stale.hpp"

#include <algorithm>
#include <iostream>

#include "etcd_cli.hpp"
#include "json_output.hpp"
#include "process.hpp"
#include "status.hpp"

namespace filelock::cli {
namespace {

// Our names for the outcomes: part of the JSON schema, so spelled here
// rather than borrowed from the library.
std::string_view outcome_name(break_outcome o) {
  switch (o) {
    case break_outcome::nothing_to_do:
      return "nothing_to_do";
    case break_outcome::removed:
      return "removed";
    case break_outcome::would_remove:
      return "would_remove";
    case break_outcome::refused_live:
      return "refused_live";
    case break_outcome::refused_unknown:
      return "refused_unknown";
    case break_outcome::lost_race:
      return "lost_race";
  }
  return "unknown";
}

// 0 when nothing stale is left at the path, 2 when something is.
int status_after(const break_report& r) {
  if (!r.slots.empty()) {
    int worst = 0;
    for (const auto& one : r.slots) worst = std::max(worst, status_after(one));
    return worst;
  }
  if (r.outcome == break_outcome::would_remove) return 2;
  if (r.outcome == break_outcome::refused_unknown &&
      r.before.state == lock_state::stale) {
    return 2;  // an interrupted takeover: stale, but only --force clears it
  }
  return 0;
}

std::string first_holder(const lock_report& r) {
  if (r.holders.empty()) return "another process";
  return describe_owner(r.holders.front());
}

std::string why_stale(const lock_report& r) {
  return r.stale_reason.empty() ? std::string() : " (" + r.stale_reason + ")";
}

std::string describe_outcome(const break_report& rep, bool force) {
  const auto& r = rep.before;
  const std::string p = "'" + r.path.string() + "': ";
  switch (rep.outcome) {
    case break_outcome::nothing_to_do:
      return p + "nothing to do (" +
             (r.state == lock_state::free ? "free" : "not a soft lock") + ")";
    case break_outcome::removed:
      if (r.state == lock_state::stale) {
        return p + "removed stale lock" + why_stale(r);
      }
      return p + "removed lock held by " + first_holder(r) +
             (force ? " (forced)" : "");
    case break_outcome::would_remove:
      if (r.state == lock_state::stale) {
        return p + "would remove stale lock" + why_stale(r);
      }
      return p + "would remove lock held by " + first_holder(r) + " (forced)";
    case break_outcome::refused_live:
      return p + "left alone: held by " + first_holder(r) +
             (r.kind == lock_kind::os ? " (an OS lock)" : " (alive)");
    case break_outcome::refused_unknown:
      if (r.state == lock_state::stale) {
        return p + "left alone: stale" + why_stale(r) + "; --force clears it";
      }
      return p + "left alone: owner unknown" +
             (r.record_error.empty() ? "" : " (" + r.record_error + ")") +
             "; --force removes it";
    case break_outcome::lost_race:
      return p +
             "left alone: another process removed or replaced it "
             "meanwhile";
  }
  return p + "unknown outcome";
}

}  // namespace

CLI::App* setup_break_stale(CLI::App& app, break_stale_args& a) {
  auto* cmd = app.add_subcommand(
      "break-stale",
      "Remove soft locks whose owner is gone or whose lifetime ran out");
  cmd->footer(
      "Exit status: 0 when nothing stale remains, 2 when something stale "
      "remains (--dry-run), >= 64 an error.\nExample:\n"
      "  filelock break-stale --dry-run /tmp/deploy.lock");
  cmd->add_flag("--dry-run", a.dry_run, "Only say what would be removed");
  cmd->add_flag("--json", a.json, "Print one JSON document on stdout");
  cmd->add_flag("--force", a.force,
                "Also remove a live or unknown owner's soft marker (never an "
                "OS lock that is held)");
  add_kind_option(*cmd, a.kind);
  cmd->add_option("LOCK", a.paths, "Lock files to clean up")->required();
  return cmd;
}

int run_break_stale(const break_stale_args& a) {
  break_options opts;
  opts.force = a.force;
  opts.dry_run = a.dry_run;
  opts.kind = parse_kind(a.kind);

  int status = 0;
  json locks = json::array();
  for (const auto& path : a.paths) {
    if (is_etcd_lock(path)) {
      auto e = break_stale_etcd(path, a);
      status = combine_status(status, e.status);
      if (a.json) {
        locks.push_back(std::move(e.doc));
      } else if (!e.text.empty()) {
        std::cout << e.text << '\n';
      }
      continue;
    }
    json entry;
    try {
      const auto rep = break_stale(utf8_path(path), opts);
      const int st = status_after(rep);
      status = combine_status(status, st);
      if (a.json) {
        entry = report_json(rep.before);
        entry["outcome"] = outcome_name(rep.outcome);
        json leftovers = json::array();
        for (const auto& p : rep.leftovers) {
          json one = json::object();
          put_path(one, p);
          leftovers.push_back(std::move(one));
        }
        entry["leftovers"] = std::move(leftovers);
        if (!rep.slots.empty()) {
          json slots = json::array();
          for (std::size_t i = 0; i < rep.slots.size(); ++i) {
            slots.push_back({{"slot", i + 1},
                             {"outcome", outcome_name(rep.slots[i].outcome)}});
          }
          entry["slot_outcomes"] = std::move(slots);
        }
      } else {
        // A soft semaphore: one line per slot, each naming its marker.
        if (rep.slots.empty()) {
          std::cout << describe_outcome(rep, a.force) << '\n';
        }
        for (const auto& one : rep.slots) {
          std::cout << describe_outcome(one, a.force) << '\n';
        }
        for (const auto& p : rep.leftovers) {
          std::cout << "'" << p.string()
                    << "': " << (a.dry_run ? "would remove" : "removed")
                    << " a leftover of a killed process\n";
        }
      }
    } catch (const filelock::error& err) {
      const auto code = code_for(err.operation(), err.code());
      const auto msg = describe_failure(err.operation(), path, err.code());
      say(msg);
      status = combine_status(status, to_int(code));
      entry = json::object();
      put_path(entry, path);
      entry["outcome"] = "error";
      entry["error"] = error_json(code, msg);
    }
    if (a.json) locks.push_back(std::move(entry));
  }

  if (a.json) {
    print_json({{"filelock", kJsonSchemaVersion},
                {"dry_run", a.dry_run},
                {"locks", std::move(locks)},
                {"exit_status", status}});
  } else {
    std::cout << std::flush;
  }
  return status;
}

}  // namespace filelock::cli
