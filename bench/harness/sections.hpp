// The measurements the harness makes, one function per section of the
// report. Each returns plain numbers; report.cpp turns them into tables.
#pragma once

#include <string>
#include <vector>

#include "common.hpp"

namespace bench {

// Runs one side of a handoff for `which` on `path`, driven over stdin and
// stdout (protocol in bench/peer.py). Returns the exit status.
int run_peer(impl which, const std::string& path);

// Handoff latency in microseconds: the releasing process stamps the clock
// just before its release call, the waiting process just after its acquire
// returns.
struct handoff_figures {
  impl which;
  summary micros;
};
// path: the lock's name; empty: a lock file in setup::dir.
handoff_figures measure_handoff(const setup& s, impl which,
                                std::string path = {});

// `waiters` processes blocked on one lock while another holds it; the
// handoff latency to whichever of them gets it next.
struct waiters_figures {
  impl which;
  int waiters = 0;
  summary micros;
};
waiters_figures measure_waiters(const setup& s, impl which, int waiters);

// `processes` processes each taking and releasing one lock in a loop for a
// fixed time.
struct contention_figures {
  impl which;
  int processes = 0;
  double ops_per_second = 0;
  double longest_wait_ms = 0;
  double mean_wait_us = 0;
};
contention_figures measure_contention(const setup& s, impl which,
                                      int processes);

// One command run many times: wall time and peak resident memory.
struct command_figures {
  std::string name;
  summary millis;
  summary max_rss_kib;
};
std::vector<command_figures> measure_overhead(const setup& s);

// Each command run `rounds` times, interleaved, as measure_overhead does.
using named_command = std::pair<std::string, std::vector<std::string>>;
std::vector<command_figures> measure_commands(
    const setup& s, const std::vector<named_command>& commands, int rounds);

// The etcd section (issue #9): a private etcd on loopback ports, and on it
// the handoff latency and the `run -- true` overhead of filelock next to
// `etcdctl lock`. skipped says why nothing was measured.
struct etcd_figures {
  std::string skipped;
  std::string version;   // etcd's, for the header
  std::string data_dir;  // where etcd keeps its data, with its filesystem
  std::vector<handoff_figures> handoff;
  std::string etcdctl_handoff_label;
  summary etcdctl_handoff;
  std::vector<command_figures> overhead;
};
etcd_figures measure_etcd(const setup& s);

}  // namespace bench
