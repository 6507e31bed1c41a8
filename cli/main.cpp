// The filelock program: wires the subcommands together and turns CLI11's
// parse errors into our usage status. Each subcommand lives in its own file.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "acquire.hpp"
#include "break_stale.hpp"
#include "common.hpp"
#include "etcd_cli.hpp"
#include "filelock/version.hpp"
#include "flock_compat.hpp"
#include "process.hpp"
#include "release.hpp"
#include "run.hpp"
#include "status.hpp"

namespace {

using filelock::cli::say;

// Edit distance counting a swap of two neighbours as one edit, since
// `rnu` for `run` is the commonest slip.
std::size_t distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(
      a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] =
          std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The known name closest to `word`, if close enough to be a likely typo
// (or a prefix of it): a far-fetched guess only misleads.
std::optional<std::string> closest(const std::string& word,
                                   const std::vector<std::string>& names) {
  std::optional<std::string> best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& name : names) {
    if (word.size() >= 3 && name.rfind(word, 0) == 0) return name;
    const auto d = distance(word, name);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  }
  return best;
}

std::string did_you_mean(const std::optional<std::string>& name) {
  return name ? " (did you mean '" + *name + "'?)" : std::string();
}

std::vector<std::string> subcommand_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const auto* cmd : app.get_subcommands({})) {
    names.push_back(cmd->get_name());
  }
  return names;
}

std::vector<std::string> option_names(const CLI::App& cmd) {
  std::vector<std::string> names;
  for (const auto* opt : cmd.get_options()) {
    for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
    for (const auto& n : opt->get_snames()) names.push_back("-" + n);
  }
  return names;
}

// The option name in a word: --name=value, and -wVALUE, name only their
// first part.
std::string option_part(const std::string& arg) {
  return arg.size() > 1 && arg[1] == '-' ? arg.substr(0, arg.find('='))
                                         : arg.substr(0, 2);
}

// A known option of `cmd` that the unknown `arg` is likely a typo of.
std::optional<std::string> likely_option(const CLI::App& cmd,
                                         const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-') return std::nullopt;
  return closest(option_part(arg), option_names(cmd));
}

// The first word of `args` (which ends where the command's own words
// begin) that looks like an option `cmd` does not have.
std::optional<std::string> unknown_option(
    const CLI::App& cmd, const std::vector<std::string>& args) {
  const auto known = option_names(cmd);
  for (const auto& arg : args) {
    if (arg.size() < 2 || arg[0] != '-') continue;
    if (arg == "--") break;
    const std::string name = option_part(arg);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return name;
    }
  }
  return std::nullopt;
}

// One line naming the unknown subcommand or option and the likely one.
// False when the mistake is of another sort, for CLI11's own message.
// Options are looked at only when the parser found words it did not
// expect (`extras`): otherwise a command's own options, say `ls -l`, would
// be taken for ours.
bool explain_unknown(const CLI::App& app, const std::vector<std::string>& args,
                     bool extras) {
  if (args.empty() || args.front().empty()) return false;
  const auto names = subcommand_names(app);
  const std::string& first = args.front();
  if (first[0] != '-') {
    if (std::find(names.begin(), names.end(), first) != names.end()) {
      if (!extras) return false;
      const auto* cmd = app.get_subcommand(first);
      const std::vector<std::string> rest(args.begin() + 1, args.end());
      auto bad = unknown_option(*cmd, rest);
      if (!bad) return false;
      say(first + ": unknown option '" + *bad + "'" +
          did_you_mean(closest(*bad, option_names(*cmd))));
      return true;
    }
    say("unknown subcommand '" + first + "'" +
        did_you_mean(closest(first, names)));
    return true;
  }
  // Before the subcommand every word is ours: no command's options yet.
  auto bad = unknown_option(app, {first});
  if (!bad) return false;
  say("unknown option '" + *bad + "'" +
      did_you_mean(closest(*bad, option_names(app))));
  return true;
}

}  // namespace

namespace {

int filelock_main(int argc, char** argv) {
  using namespace filelock::cli;
  if (argc > 0 && invoked_as_flock(argv[0])) {
    return flock_main(utf8_arguments(argc, argv));
  }
  CLI::App app{"filelock: lock files for scripts, cron jobs and CI steps",
               "filelock"};
  app.set_version_flag("-V,--version",
                       std::string("filelock ") + FILELOCK_VERSION_STRING);
  app.require_subcommand(1);
  app.footer(
      "Example:\n  filelock run -n /tmp/job.lock -- ./job.sh   # 75 when "
      "busy\nSee filelock SUBCOMMAND --help, and filelock(1) for exit "
      "statuses and examples.");

  run_args run;
  auto* run_cmd = setup_run(app, run);
  acquire_args acquire;
  auto* acquire_cmd = setup_acquire(app, acquire);
  release_args release;
  auto* release_cmd = setup_release(app, release);
  status_args status;
  auto* status_cmd = setup_status(app, status);
  break_stale_args breaker;
  auto* break_cmd = setup_break_stale(app, breaker);
  add_etcd_options(*run_cmd, true);
  for (auto* cmd : {acquire_cmd, release_cmd, status_cmd, break_cmd}) {
    add_etcd_options(*cmd, false);
  }

  // For `run`, everything after the first `--` is the command, verbatim;
  // CLI11 sees only what comes before it.
  std::vector<std::string> args = utf8_arguments(argc, argv);
  std::optional<std::vector<std::string>> after_dashes;
  if (!args.empty() && args.front() == "run") {
    auto dashes = std::find(args.begin(), args.end(), "--");
    if (dashes != args.end()) {
      after_dashes.emplace(dashes + 1, args.end());
      args.erase(dashes, args.end());
    }
  }
  const std::vector<std::string> given = args;
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first

  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const bool extras = dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr;
    if (!explain_unknown(app, given, extras)) say(e.what());
    return to_int(exit_code::usage);
  }

  // Exceptions from here are bugs of ours: main() reports them (exit 70).
  if (run_cmd->parsed()) {
    auto bad = take_command(run, run_cmd->remaining(),
                            after_dashes ? &*after_dashes : nullptr);
    if (bad) {
      // The words CLI11 left over start with the unknown option, if any;
      // a likely typo of one of ours is named, otherwise the hint about
      // `--` is what the user needs.
      const auto& rest = run_cmd->remaining();
      const auto near = likely_option(*run_cmd, rest.front());
      if (near) {
        say("run: unknown option '" + option_part(rest.front()) + "'" +
            did_you_mean(near));
      } else {
        say(*bad);
      }
      return to_int(exit_code::usage);
    }
    return run_run(run);
  }
  if (acquire_cmd->parsed()) {
    if (is_etcd_lock(acquire.lock.path)) return acquire_etcd(acquire);
    return run_acquire(acquire);
  }
  if (release_cmd->parsed()) {
    if (is_etcd_lock(release.path)) {
      // An etcd slot is a key of its own, found like a lock's.
      if (release.slot != 0) {
        say("release: --slot is for a local semaphore; an etcd slot is "
            "released by its name alone");
        return to_int(exit_code::usage);
      }
      return release_etcd(release);
    }
    return run_release(release);
  }
  if (status_cmd->parsed()) return run_status(status);
  if (break_cmd->parsed()) return run_break_stale(breaker);
  return to_int(exit_code::usage);
}

}  // namespace

// Anything that escapes (CLI11's setup, allocation) is a bug of ours: exit
// 70 with one line rather than let std::terminate abort with a core dump.
int main(int argc, char** argv) {
  try {
    return filelock_main(argc, argv);
  } catch (const std::exception& e) {
    filelock::cli::say(std::string("internal error: ") + e.what());
  } catch (...) {
    filelock::cli::say("internal error");
  }
  return filelock::cli::to_int(filelock::cli::exit_code::internal);
}
