// The filelock program: wires the subcommands together and turns CLI11's
// parse errors into our usage status. Each subcommand lives in its own file.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>
#include <string>

#include "acquire.hpp"
#include "break_stale.hpp"
#include "common.hpp"
#include "etcd_cli.hpp"
#include "filelock/version.hpp"
#include "process.hpp"
#include "release.hpp"
#include "run.hpp"
#include "status.hpp"

int main(int argc, char** argv) {
  using namespace filelock::cli;
  CLI::App app{"filelock: lock files for scripts, cron jobs and CI steps",
               "filelock"};
  app.set_version_flag("-V,--version",
                       std::string("filelock ") + FILELOCK_VERSION_STRING);
  app.require_subcommand(1);
  app.footer("See filelock(1) for exit statuses and examples.");

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
    say(e.what());
    return to_int(exit_code::usage);
  }

  try {
    if (run_cmd->parsed()) {
      auto bad = take_command(run, run_cmd->remaining(),
                              after_dashes ? &*after_dashes : nullptr);
      if (bad) {
        say(*bad);
        return to_int(exit_code::usage);
      }
      return run_run(run);
    }
    if (acquire_cmd->parsed()) {
      if (is_etcd_lock(acquire.lock.path)) return acquire_etcd(acquire);
      return run_acquire(acquire);
    }
    if (release_cmd->parsed()) {
      if (is_etcd_lock(release.path)) return release_etcd(release);
      return run_release(release);
    }
    if (status_cmd->parsed()) return run_status(status);
    if (break_cmd->parsed()) return run_break_stale(breaker);
  } catch (const std::exception& e) {
    say(std::string("internal error: ") + e.what());
    return to_int(exit_code::internal);
  }
  return to_int(exit_code::usage);
}
