#include "flock_compat.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <optional>

#include "acquire.hpp"
#include "common.hpp"
#include "duration.hpp"
#include "filelock/version.hpp"
#include "process.hpp"
#include "release.hpp"
#include "run.hpp"

namespace filelock::cli {
namespace {

enum class operation { exclusive, shared, unlock };

struct flock_args {
  operation op = operation::exclusive;
  bool nonblock = false;
  std::optional<std::string> timeout;  // -w, raw
  std::string conflict_exit = "1";     // -E, raw
  bool close_fd = false;               // -o
  bool no_fork = false;                // -F
  bool verbose = false;
};

// util-linux's long options. getopt_long also takes any unambiguous
// prefix of them (`--nonblock`, `--verb`), which CLI11 does not.
const std::vector<std::string> kLongNames = {
    "shared", "exclusive", "unlock",  "nonblocking",
    "nb",     "timeout",   "wait",    "conflict-exit-code",
    "close",  "no-fork",   "verbose", "help",
    "version"};

bool takes_value(std::string_view long_name) {
  return long_name == "timeout" || long_name == "wait" ||
         long_name == "conflict-exit-code";
}

int usage_error(const std::string& text) {
  say(text);
  return to_int(exit_code::usage);
}

// Expands abbreviated long options in the option words (those before the
// first word that is not an option, as getopt with "+" stops there).
// Returns a usage message for an ambiguous one.
std::optional<std::string> expand_prefixes(std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string& word = args[i];
    if (word == "--" || word.size() < 2 || word[0] != '-') return std::nullopt;
    if (word[1] != '-') {
      // A bundle of short options; a value-taking letter ends it, and
      // without text after it takes the next word.
      const auto v = word.find_first_of("wE", 1);
      if (v == word.size() - 1) ++i;
      continue;
    }
    const auto eq = word.find('=');
    const std::string name =
        word.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    std::vector<std::string> hits;
    for (const auto& known : kLongNames) {
      if (known == name) {
        hits = {known};
        break;
      }
      if (!name.empty() && known.rfind(name, 0) == 0) hits.push_back(known);
    }
    if (hits.size() > 1) return "option '--" + name + "' is ambiguous";
    if (hits.empty()) continue;  // CLI11 reports it
    word = "--" + hits.front() +
           (eq == std::string::npos ? std::string() : word.substr(eq));
    if (eq == std::string::npos && takes_value(hits.front())) ++i;
  }
  return std::nullopt;
}

// A whole decimal int, as util-linux's strtos32_or_err reads one.
std::optional<int> parse_int(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < INT_MIN || v > INT_MAX) {
    return std::nullopt;
  }
  return static_cast<int>(v);
}

void setup(CLI::App& app, flock_args& f) {
  app.set_help_flag("-h,--help", "Display this help and exit");
  app.set_version_flag("-V,--version", std::string("flock from filelock ") +
                                           FILELOCK_VERSION_STRING);
  // Each letter sets the operation as it is read, and a value given twice
  // keeps the second: the last one wins, as with getopt.
  auto set_op = [&f](operation op) { return [&f, op] { f.op = op; }; };
  app.add_flag_callback("-s,--shared", set_op(operation::shared),
                        "Get a shared lock")
      ->trigger_on_parse();
  app.add_flag_callback("-x,-e,--exclusive", set_op(operation::exclusive),
                        "Get an exclusive lock (default)")
      ->trigger_on_parse();
  app.add_flag_callback("-u,--unlock", set_op(operation::unlock),
                        "Remove a lock (descriptor form)")
      ->trigger_on_parse();
  app.add_flag("-n,--nb,--nonblocking", f.nonblock, "Fail rather than wait");
  app.add_option("-w,--timeout,--wait", f.timeout,
                 "Wait at most SECS seconds (decimals allowed; 0 as -n)")
      ->type_name("SECS")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("-E,--conflict-exit-code", f.conflict_exit,
                 "Exit status after a conflict or timeout (0-255, default "
                 "1)")
      ->type_name("NUMBER")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_flag("-o,--close", f.close_fd,
               "Close the lock's descriptor in the command");
  app.add_flag("-F,--no-fork", f.no_fork,
               "Execute the command without forking");
  app.add_flag("--verbose", f.verbose,
               "Report how long getting the lock took, on stdout");
  app.footer(
      "Usage: flock [options] FILE|DIRECTORY COMMAND [ARGUMENT...]\n"
      "       flock [options] FILE|DIRECTORY -c COMMAND\n"
      "       flock [options] NUMBER\n\n"
      "filelock invoked as flock(1); see filelock(1), INVOKED AS flock.");
  // The first word that is not an option ends the options, and it and
  // everything after it come back in remaining().
  app.prefix_command();
}

// Fills the lock options both forms share; a usage status on bad values.
std::optional<int> fill_lock(const flock_args& f, lock_args& la) {
  la.flock_conventions = true;
  la.shared = f.op == operation::shared;
  la.nonblock = f.nonblock;
  la.verbose = f.verbose;
  // flock(1) is silent about a busy lock unless asked.
  la.quiet = !f.verbose;
  const auto code = parse_int(f.conflict_exit);
  if (!code) return usage_error("invalid exit code: '" + f.conflict_exit + "'");
  if (*code < 0 || *code > 255) {
    return usage_error("exit code out of range (expected 0 to 255)");
  }
  la.conflict_exit = *code;
  if (f.timeout) {
    std::string why;
    if (!parse_duration(*f.timeout, why)) {
      // util-linux reads a negative wait and then fails to arm its timer.
      if (!f.timeout->empty() && f.timeout->front() == '-' &&
          parse_duration(f.timeout->substr(1), why)) {
        say("cannot set up timer: Invalid argument");
        return to_int(exit_code::os_error);
      }
      return usage_error("invalid timeout value: '" + *f.timeout + "'");
    }
    la.timeout = *f.timeout;
  }
  return std::nullopt;
}

int descriptor_form(const flock_args& f, const std::string& word) {
  const auto fd = parse_int(word);
  if (!fd) return usage_error("bad file descriptor: '" + word + "'");
  if (f.op == operation::unlock) {
    release_args rel;
    rel.fd = *fd;
    rel.flock_conventions = true;
    return run_release(rel);
  }
  acquire_args acq;
  acq.fd = *fd;
  if (auto bad = fill_lock(f, acq.lock)) return *bad;
  // A negative number never reaches here as one (getopt takes it for an
  // option), but a descriptor that is not open must fail like one.
  if (acq.fd < 0) {
    say("cannot lock descriptor " + word + ": Bad file descriptor");
    return to_int(exit_code::data_error);
  }
  return run_acquire(acq);
}

int command_form(const flock_args& f, const std::vector<std::string>& words) {
  if (f.op == operation::unlock) {
    // util-linux opens the path, drops a lock it cannot hold (it has just
    // opened the file) and runs the command unlocked. Nothing a script
    // wants; refused so that the mistake is seen.
    return usage_error(
        "-u drops the lock of a descriptor (flock -u NUMBER); with '" +
        words.front() + "' there is no lock to drop");
  }
  run_args run;
  run.lock.path = words.front();
  if (auto bad = fill_lock(f, run.lock)) return *bad;
  if (words[1] == "-c" || words[1] == "--command") {
    if (words.size() != 3) {
      return usage_error(words[1] + " requires exactly one command argument");
    }
    // The whole argv here, not run's -c: that one is /bin/sh for everyone.
    run.command = user_shell_argv(words[2]);
  } else {
    run.command.assign(words.begin() + 1, words.end());
  }
  run.kind = "os";
  run.inherit = !f.close_fd;
  run.no_fork = f.no_fork;
  return run_run(run);
}

}  // namespace

bool invoked_as_flock(std::string_view argv0) {
  const auto slash = argv0.find_last_of("/\\");
  const auto name =
      slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return name == "flock" || name == "flock.exe";
}

int flock_main(const std::vector<std::string>& given) {
  set_program_name("flock");
  if (given.empty()) return usage_error("not enough arguments");

  std::vector<std::string> args = given;
  if (auto bad = expand_prefixes(args)) return usage_error(*bad);
  CLI::App app{"Manage file locks from shell scripts", "flock"};
  flock_args f;
  setup(app, f);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  // With prefix_command, an option CLI11 does not know comes back too,
  // ahead of the first real word (`-c` before the path is one).
  std::vector<std::string> words = app.remaining();
  if (!words.empty() && words.front() == "--") {
    words.erase(words.begin());
  } else if (!words.empty() && words.front().size() > 1 &&
             words.front()[0] == '-') {
    return usage_error("unrecognized option '" + words.front() + "'");
  }
  if (f.no_fork && f.close_fd) {
    return usage_error("the --no-fork and --close options are incompatible");
  }
  if (words.empty()) {
    return usage_error("requires file descriptor, file or directory");
  }
  try {
    if (words.size() == 1) return descriptor_form(f, words.front());
    return command_form(f, words);
  } catch (const std::exception& e) {
    say(std::string("internal error: ") + e.what());
    return to_int(exit_code::internal);
  }
}

}  // namespace filelock::cli
