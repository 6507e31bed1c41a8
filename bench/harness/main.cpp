// filelock_bench: the process-level benchmarks of issue #6, printed as one
// Markdown report (`report`), and the handoff peer it starts (`peer`).
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "common.hpp"
#include "filelock/lock.hpp"
#include "report.hpp"
#include "sections.hpp"

namespace {

// lock_kind::soft may be accepted and served by the OS lock while the soft
// backend is being written; only a soft lock that leaves the OS lock on the
// path free is measured as one.
bool soft_lock_works(const std::string& dir) {
  const auto path = dir + "/soft-probe";
  try {
    filelock::lock_options o;
    o.kind = filelock::lock_kind::soft;
    filelock::file_lock lock(path, o);
    auto held = lock.try_acquire();
    if (!held) return false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return true;
    const bool os_lock_free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    ::close(fd);
    return os_lock_free;
  } catch (const std::exception&) {
    return false;
  }
}

bool python_has_filelock(const std::string& python) {
  const std::string command =
      "'" + python + "' -c 'import filelock' 2>/dev/null";
  return std::system(command.c_str()) == 0;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ =
      std::string(tmp ? tmp : "/tmp") + "/filelock-bench-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    throw std::runtime_error("cannot create a directory in /tmp");
  }
  return templ;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"filelock benchmarks: handoff, overhead, contention, scale",
               "filelock_bench"};
  app.require_subcommand(1);

  std::string peer_impl, peer_path;
  auto* peer = app.add_subcommand("peer", "one side of a handoff (internal)");
  peer->add_option("--impl", peer_impl, "os, soft, flock or flock-kept")
      ->required();
  peer->add_option("path", peer_path, "lock file")->required();

  bench::setup s;
  bench::report_options o;
  auto* report = app.add_subcommand("report", "run everything, print Markdown");
  report->add_option("--filelock", s.filelock, "the filelock program")
      ->required();
  report->add_option("--micro", o.micro, "the filelock_micro program");
  report->add_option("--python", s.python, "python3 with filelock")
      ->default_val("/usr/bin/python3");
  report->add_option("--python-peer", s.python_peer, "bench/peer.py");
  report->add_option("--dir", s.dir,
                     "where to put lock files (default: "
                     "a new directory in $TMPDIR or /tmp)");
  report->add_option("--commit", o.commit, "commit to name in the header");
  report->add_option("--fs", o.fs_type, "filesystem of --dir, for the header");
  report->add_flag("--quick", s.quick, "few samples: a smoke run");
  report->add_option("--only", s.only, "sections to run")
      ->delimiter(',')
      ->check(CLI::IsMember(
          {"micro", "handoff", "overhead", "contention", "waiters", "etcd"}));
  report->add_option("--etcd", s.etcd, "etcd server (default: from PATH)");
  report->add_option("--etcdctl", s.etcdctl, "etcdctl (default: from PATH)");

  CLI11_PARSE(app, argc, argv);

  if (*peer) return bench::run_peer(bench::parse_impl(peer_impl), peer_path);

  const bool own_dir = s.dir.empty();
  if (own_dir) s.dir = make_temp_dir();
  s.self = std::filesystem::canonical("/proc/self/exe").string();
  s.soft_available = soft_lock_works(s.dir);
  if (s.etcd.empty()) s.etcd = bench::find_on_path("etcd");
  if (s.etcdctl.empty()) s.etcdctl = bench::find_on_path("etcdctl");
  o.python_available = !s.python_peer.empty() && python_has_filelock(s.python);
  bench::print_report(s, o);
  if (own_dir) std::filesystem::remove_all(s.dir);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "filelock_bench: " << e.what() << std::endl;
  return 1;
}
