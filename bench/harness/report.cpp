#include "report.hpp"

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "sections.hpp"

namespace bench {
namespace {

std::string fixed(double x, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, x);
  return buf;
}

// Microseconds with a precision that suits their size.
std::string us(double x) {
  return fixed(x, x < 100 ? 1 : 0) + " µs";
}
std::string ratio(double ours, double theirs) {
  if (theirs <= 0) return "–";
  return fixed(ours / theirs, 2) + "x";
}
std::string verdict(bool met) {
  return met ? "**met**" : "**missed**";
}

void progress(const std::string& what) {
  std::cerr << "filelock_bench: " << what << " (load " << load_average() << ")"
            << std::endl;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// Google Benchmark's JSON: real time per iteration, in ns, keyed by the
// run name; with repetitions only the median aggregate is kept.
std::map<std::string, double> read_micro(const std::string& path) {
  std::map<std::string, double> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) return out;
  const auto doc = nlohmann::json::parse(in);
  for (const auto& b : doc.at("benchmarks")) {
    if (b.contains("error_occurred") && b["error_occurred"].get<bool>()) {
      continue;
    }
    const bool aggregate = b.value("run_type", "") == "aggregate";
    if (aggregate && b.value("aggregate_name", "") != "median") continue;
    double t = b.at("real_time").get<double>();
    const auto unit = b.value("time_unit", "ns");
    if (unit == "us") t *= 1e3;
    if (unit == "ms") t *= 1e6;
    out[b.value("run_name", b.at("name").get<std::string>())] = t;
  }
  return out;
}

// Runs the micro-benchmarks with their report on our stderr and their JSON
// in a file of the lock directory.
std::map<std::string, double> run_micro(const setup& s,
                                        const std::string& program) {
  if (program.empty()) return {};
  const auto json = lock_path(s, "micro.json");
  const std::vector<std::string> argv = {
      program,
      "--benchmark_out=" + json,
      "--benchmark_out_format=json",
      "--benchmark_repetitions=" + std::string(s.quick ? "1" : "3"),
      "--benchmark_report_aggregates_only=true",
      "--benchmark_min_time=" + std::string(s.quick ? "0.02" : "0.1"),
      "--dir=" + s.dir,
  };
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(2, 1);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    throw std::runtime_error(program + " failed");
  }
  return read_micro(json);
}

struct results {
  std::map<std::string, double> micro;
  std::map<impl, summary> handoff;
  std::vector<waiters_figures> waiters;
  std::vector<contention_figures> contention;
  std::vector<command_figures> overhead;
  std::optional<etcd_figures> etcd;
  std::vector<std::pair<std::string, std::string>> loads;
};

void measure_all(const setup& s, const report_options& o, results& r) {
  r.loads.emplace_back("start", load_average());
  if (wanted(s, "micro")) {
    progress("micro-benchmarks");
    r.micro = run_micro(s, o.micro);
  }

  std::vector<impl> handoff = {impl::ours_os, impl::raw_flock,
                               impl::raw_flock_lstat};
  if (s.soft_available) handoff.push_back(impl::ours_soft);
  if (o.python_available) {
    handoff.push_back(impl::py_file);
    handoff.push_back(impl::py_soft);
  }
  if (wanted(s, "handoff")) {
    r.loads.emplace_back("start of handoff", load_average());
    for (impl i : handoff) {
      progress("handoff, " + label(i));
      r.handoff[i] = measure_handoff(s, i).micros;
    }
  }

  if (wanted(s, "overhead")) {
    r.loads.emplace_back("start of program overhead", load_average());
    progress("program overhead");
    r.overhead = measure_overhead(s);
  }

  if (wanted(s, "contention")) {
    r.loads.emplace_back("start of contention", load_average());
    for (int n : {2, 4, 8, 16}) {
      for (impl i : {impl::ours_os, impl::raw_flock, impl::raw_flock_kept,
                     impl::ours_os_fair}) {
        progress("contention, " + std::to_string(n) + " processes, " +
                 label(i));
        r.contention.push_back(measure_contention(s, i, n));
      }
    }
  }

  if (wanted(s, "waiters")) {
    r.loads.emplace_back("start of waiters", load_average());
    for (int n : {1, 4, 16, 64}) {
      for (impl i : {impl::ours_os, impl::raw_flock}) {
        progress("waiters, " + std::to_string(n) + ", " + label(i));
        r.waiters.push_back(measure_waiters(s, i, n));
      }
    }
  }
  if (wanted(s, "etcd")) {
    r.loads.emplace_back("start of etcd", load_average());
    progress("etcd");
    r.etcd = measure_etcd(s);
  }
  r.loads.emplace_back("end", load_average());
}

const contention_figures* find(const results& r, impl i, int n) {
  for (const auto& c : r.contention) {
    if (c.which == i && c.processes == n) return &c;
  }
  return nullptr;
}

const command_figures* find_command(const results& r, const std::string& n) {
  for (const auto& c : r.overhead) {
    if (c.name == n) return &c;
  }
  return nullptr;
}

void print_header(const setup& s, const report_options& o, const results& r) {
  utsname u{};
  uname(&u);
  std::cout << "# filelock benchmarks\n\n"
            << "- date: " << utc_now() << "\n"
            << "- commit: " << (o.commit.empty() ? "unknown" : o.commit) << "\n"
            << "- machine: " << sysconf(_SC_NPROCESSORS_ONLN)
            << " CPUs online, " << cpu_model() << ", " << u.sysname << " "
            << u.release << " " << u.machine << "\n"
            << "- lock files in: " << s.dir << " ("
            << (o.fs_type.empty() ? "unknown filesystem" : o.fs_type) << ")\n"
            << "- load average (1, 5, 15 min):";
  const char* sep = " ";
  for (const auto& [when, load] : r.loads) {
    std::cout << sep << when << " " << load;
    sep = "; ";
  }
  std::cout << "\n";
  if (s.quick)
    std::cout << "- **quick run: few samples, not for RESULTS.md**\n";
  std::cout << "\n";
}

void print_targets(const setup& s, const results& r) {
  std::cout << "## Targets (issue #6)\n\n"
            << "| target | filelock | reference | ratio | goal | status |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  auto handoff = [&](impl i) -> std::optional<summary> {
    auto it = r.handoff.find(i);
    if (it == r.handoff.end()) return std::nullopt;
    return it->second;
  };
  if (auto ours = handoff(impl::ours_os), raw = handoff(impl::raw_flock);
      ours && raw) {
    std::cout << "| OS-lock handoff, median | " << us(ours->median)
              << " | raw flock(2) " << us(raw->median) << " | "
              << ratio(ours->median, raw->median) << " | ≤ 1.5x | "
              << verdict(ours->median <= 1.5 * raw->median) << " |\n";
  }
  auto py = handoff(impl::py_soft);
  if (auto soft = handoff(impl::ours_soft); soft) {
    std::cout << "| soft-lock handoff, median | " << us(soft->median) << " | "
              << (py ? "Python SoftFileLock " + us(py->median) : "–") << " | "
              << (py ? ratio(soft->median, py->median) : "–") << " | < 1 ms | "
              << verdict(soft->median < 1000) << " |\n";
  } else if (!r.handoff.empty()) {
    std::cout << "| soft-lock handoff, median | not measured: "
              << "lock_kind::soft is not implemented at this commit | "
              << (py ? "Python SoftFileLock " + us(py->median) : "–")
              << " | – | < 1 ms | not measured |\n";
  }
  const auto* ours = find_command(r, "filelock run L -- true");
  const auto* flock = find_command(r, "flock L true");
  if (ours && flock) {
    std::cout << "| `run -- true`, median wall time | "
              << fixed(ours->millis.median, 3) << " ms | flock(1) "
              << fixed(flock->millis.median, 3) << " ms | "
              << ratio(ours->millis.median, flock->millis.median)
              << " | ≤ 1.25x | "
              << verdict(ours->millis.median <= 1.25 * flock->millis.median)
              << " |\n"
              << "| `run -- true`, peak RSS | "
              << fixed(ours->max_rss_kib.median, 0) << " KiB | flock(1) "
              << fixed(flock->max_rss_kib.median, 0) << " KiB | "
              << ratio(ours->max_rss_kib.median, flock->max_rss_kib.median)
              << " | ≤ 2x | "
              << verdict(ours->max_rss_kib.median <=
                         2 * flock->max_rss_kib.median)
              << " |\n";
  }
  const auto* c16 = find(r, impl::ours_os, 16);
  for (impl ref : {impl::raw_flock, impl::raw_flock_kept}) {
    const auto* raw = find(r, ref, 16);
    if (!c16 || !raw) continue;
    std::cout << "| 16-process throughput | " << fixed(c16->ops_per_second, 0)
              << " ops/s | " << label(ref) << " "
              << fixed(raw->ops_per_second, 0) << " ops/s | "
              << ratio(c16->ops_per_second, raw->ops_per_second)
              << " | ≥ 0.8x | "
              << verdict(c16->ops_per_second >= 0.8 * raw->ops_per_second)
              << " |\n";
  }
  (void)s;
  std::cout << "\n";
}

void print_micro(const results& r) {
  if (r.micro.empty()) return;
  std::cout << "## Uncontended acquire + release (Google Benchmark, median "
               "of repetitions, wall time per operation)\n\n"
            << "| operation | ns/op | vs open+flock+close |\n"
            << "| --- | --- | --- |\n";
  const auto floor_it = r.micro.find("floor/open_flock_close");
  const double floor = floor_it == r.micro.end() ? 0 : floor_it->second;
  for (const auto& [name, ns] : r.micro) {
    if (name.rfind("scale/", 0) == 0) continue;
    std::cout << "| " << name << " | " << fixed(ns, 0) << " | "
              << ratio(ns, floor) << " |\n";
  }
  std::cout << "\n## Scale: acquire + release of one lock while the process "
               "holds N others (ns/op)\n\n"
            << "| N held | filelock OS lock | open+flock+close | ratio |\n"
            << "| --- | --- | --- | --- |\n";
  for (const auto& [name, ns] : r.micro) {
    const std::string prefix = "scale/os_held/";
    if (name.rfind(prefix, 0) != 0) continue;
    const auto n = name.substr(prefix.size());
    auto raw = r.micro.find("scale/floor_held/" + n);
    const double raw_ns = raw == r.micro.end() ? 0 : raw->second;
    std::cout << "| " << n << " | " << fixed(ns, 0) << " | " << fixed(raw_ns, 0)
              << " | " << ratio(ns, raw_ns) << " |\n";
  }
  std::cout << "\n";
}

void print_handoff(const results& r) {
  if (r.handoff.empty()) return;
  std::cout << "## Handoff latency (holder releases → waiter holds)\n\n"
            << "| implementation | median | p99 | max | samples | "
               "median vs raw flock(2) |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  const auto raw = r.handoff.find(impl::raw_flock);
  for (const auto& [which, sm] : r.handoff) {
    std::cout << "| " << label(which) << " | " << us(sm.median) << " | "
              << us(sm.p99) << " | " << us(sm.max) << " | " << sm.count << " | "
              << (raw == r.handoff.end() ? "–"
                                         : ratio(sm.median, raw->second.median))
              << " |\n";
  }
  std::cout << "\n";
}

void print_overhead(const results& r) {
  if (r.overhead.empty()) return;
  std::cout << "## Program overhead (each command run "
            << (r.overhead.empty() ? 0 : r.overhead.front().millis.count)
            << " times, interleaved)\n\n"
            << "| command | median | mean | p99 | peak RSS (median) | "
               "time vs flock(1) | added over `true` vs flock(1) |\n"
            << "| --- | --- | --- | --- | --- | --- | --- |\n";
  const auto* base = find_command(r, "true");
  const auto* flock = find_command(r, "flock L true");
  for (const auto& c : r.overhead) {
    std::string added = "–";
    if (base && flock && &c != base) {
      added = ratio(c.millis.median - base->millis.median,
                    flock->millis.median - base->millis.median);
    }
    std::cout << "| `" << c.name << "` | " << fixed(c.millis.median, 3)
              << " ms | " << fixed(c.millis.mean, 3) << " ms | "
              << fixed(c.millis.p99, 3) << " ms | "
              << fixed(c.max_rss_kib.median, 0) << " KiB | "
              << (flock ? ratio(c.millis.median, flock->millis.median) : "–")
              << " | " << added << " |\n";
  }
  std::cout << "\n";
}

void print_contention(const results& r) {
  if (r.contention.empty()) return;
  std::cout << "## Contention: N processes taking one lock in a loop\n\n"
            << "| N | implementation | ops/s | vs raw flock(2) | "
               "mean wait | longest wait |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  for (const auto& c : r.contention) {
    const auto* raw = find(r, impl::raw_flock, c.processes);
    std::cout << "| " << c.processes << " | " << label(c.which) << " | "
              << fixed(c.ops_per_second, 0) << " | "
              << (raw ? ratio(c.ops_per_second, raw->ops_per_second) : "–")
              << " | " << us(c.mean_wait_us) << " | "
              << fixed(c.longest_wait_ms, 1) << " ms |\n";
  }
  std::cout << "\n";
}

// Issue #10: what --fair does to the longest wait, from the contention
// rows of the same run.
void print_fairness(const results& r) {
  if (find(r, impl::ours_os_fair, 2) == nullptr) return;
  std::cout << "## Fair queueing: longest wait under contention\n\n"
            << "| N | longest wait, OS lock | longest wait, fair | "
               "fair vs plain | ops/s, fair vs plain |\n"
            << "| --- | --- | --- | --- | --- |\n";
  for (int n : {2, 4, 8, 16}) {
    const auto* plain = find(r, impl::ours_os, n);
    const auto* fair = find(r, impl::ours_os_fair, n);
    if (plain == nullptr || fair == nullptr) continue;
    std::cout << "| " << n << " | " << fixed(plain->longest_wait_ms, 1)
              << " ms | " << fixed(fair->longest_wait_ms, 1) << " ms | "
              << ratio(fair->longest_wait_ms, plain->longest_wait_ms) << " | "
              << ratio(fair->ops_per_second, plain->ops_per_second) << " |\n";
  }
  std::cout << "\n";
}

void print_etcd(const results& r) {
  if (!r.etcd) return;
  const auto& e = *r.etcd;
  std::cout << "## etcd (issue #9): filelock next to `etcdctl lock`\n\n";
  if (!e.skipped.empty()) {
    std::cout << "Not measured: " << e.skipped << ".\n\n";
    return;
  }
  std::cout << "One private " << e.version << " on loopback ports, data in "
            << e.data_dir
            << "; both clients take the same kind of key (NAME/<lease>).\n\n"
            << "| handoff | median | p99 | max | samples | "
               "median vs etcdctl lock |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  const auto& ctl = e.etcdctl_handoff;
  for (const auto& h : e.handoff) {
    std::cout << "| " << label(h.which) << " | " << us(h.micros.median) << " | "
              << us(h.micros.p99) << " | " << us(h.micros.max) << " | "
              << h.micros.count << " | " << ratio(h.micros.median, ctl.median)
              << " |\n";
  }
  std::cout << "| " << e.etcdctl_handoff_label << " | " << us(ctl.median)
            << " | " << us(ctl.p99) << " | " << us(ctl.max) << " | "
            << ctl.count << " | 1.00x |\n\n";

  const command_figures* ctl_run = nullptr;
  for (const auto& c : e.overhead) {
    if (c.name.rfind("etcdctl", 0) == 0) ctl_run = &c;
  }
  std::cout << "| command (each run " << e.overhead.front().millis.count
            << " times, interleaved) | median | mean | p99 | "
               "peak RSS (median) | time vs etcdctl lock |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  for (const auto& c : e.overhead) {
    std::cout << "| `" << c.name << "` | " << fixed(c.millis.median, 3)
              << " ms | " << fixed(c.millis.mean, 3) << " ms | "
              << fixed(c.millis.p99, 3) << " ms | "
              << fixed(c.max_rss_kib.median, 0) << " KiB | "
              << (ctl_run ? ratio(c.millis.median, ctl_run->millis.median)
                          : "–")
              << " |\n";
  }
  std::cout << "\n";
}

void print_waiters(const results& r) {
  if (r.waiters.empty()) return;
  std::cout << "## Scale: handoff with N processes waiting on one lock\n\n"
            << "| N waiting | implementation | median | p99 | max | "
               "median vs raw flock(2) |\n"
            << "| --- | --- | --- | --- | --- | --- |\n";
  for (const auto& w : r.waiters) {
    const summary* raw = nullptr;
    for (const auto& x : r.waiters) {
      if (x.which == impl::raw_flock && x.waiters == w.waiters) {
        raw = &x.micros;
      }
    }
    std::cout << "| " << w.waiters << " | " << label(w.which) << " | "
              << us(w.micros.median) << " | " << us(w.micros.p99) << " | "
              << us(w.micros.max) << " | "
              << (raw ? ratio(w.micros.median, raw->median) : "–") << " |\n";
  }
  std::cout << "\n";
}

}  // namespace

void print_report(const setup& s, const report_options& o) {
  results r;
  measure_all(s, o, r);

  print_header(s, o, r);
  print_targets(s, r);
  print_handoff(r);
  print_overhead(r);
  print_contention(r);
  print_fairness(r);
  print_waiters(r);
  print_etcd(r);
  print_micro(r);
  if (!o.python_available) {
    std::cout << "Python filelock was not found; its rows are missing.\n";
  }
}

}  // namespace bench
