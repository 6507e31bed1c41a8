#include "release.hpp"

#include "fd_lock.hpp"

namespace filelock::cli {

CLI::App* setup_release(CLI::App& app, release_args& a) {
  auto* cmd = app.add_subcommand(
      "release", "Give back a lock taken with filelock acquire");
  cmd->add_option("--fd", a.fd,
                  "Unlock the descriptor N that the calling shell opened, "
                  "as flock -u N does")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber)
      ->required();
  auto* v = cmd->add_flag("-v,--verbose", a.verbose, "Say what was released");
  auto* q = cmd->add_flag("-q,--quiet", a.quiet, "Say nothing on success");
  v->excludes(q);
  return cmd;
}

int run_release(const release_args& a) {
  std::error_code ec;
  unlock_descriptor(a.fd, ec);
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

}  // namespace filelock::cli
