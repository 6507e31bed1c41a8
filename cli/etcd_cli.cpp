#include "etcd_cli.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <variant>

#include "common.hpp"
#include "duration.hpp"
#include "process.hpp"
#include "status.hpp"
#include "wait_line.hpp"
#include "wait_signals.hpp"

namespace filelock::cli {
namespace {

namespace fe = filelock::etcd;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string seconds_text(steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s",
                std::chrono::duration<double>(d).count());
  return buf;
}

// A usage problem with an option, or nothing.
std::optional<std::string> make_options(const etcd_args& e, fe::options& o) {
  o.endpoints = e.endpoints;
  if (!e.lease_ttl.empty()) {
    std::string why;
    auto d = parse_duration(e.lease_ttl, why);
    if (d && *d < seconds(1)) why = "the lease TTL is at least 1s";
    if (!d || !why.empty()) {
      return "bad --lease-ttl '" + e.lease_ttl + "': " + why;
    }
    o.lease_ttl = std::chrono::ceil<seconds>(*d);
  }
  o.ca_file = e.cacert;
  o.cert_file = e.cert;
  o.key_file = e.key;
  o.insecure_skip_tls_verify = e.insecure;
  o.user = e.user;
  if (!e.password_file.empty()) {
    std::FILE* f = std::fopen(e.password_file.c_str(), "r");
    if (!f) {
      return "cannot read '" + e.password_file +
             "': " + std::error_code(errno, std::generic_category()).message();
    }
    char buf[1024] = {};
    if (std::fgets(buf, sizeof buf, f)) o.password = buf;
    std::fclose(f);
    while (!o.password.empty() &&
           (o.password.back() == '\n' || o.password.back() == '\r')) {
      o.password.pop_back();
    }
  }
  try {
    fe::apply_environment(o);
  } catch (const filelock::error& err) {
    return std::string(err.what());
  }
  return std::nullopt;
}

std::string failure_text(const std::string& name, std::string_view operation,
                         const std::error_code& ec, const std::string& detail) {
  std::string s =
      "cannot " + std::string(operation) + " '" + name + "': " + ec.message();
  if (!detail.empty()) s += " (" + detail + ")";
  return s;
}

std::string command_text(const run_args& a) {
  if (!a.shell_command.empty()) return a.shell_command;
  std::string text;
  for (const auto& word : a.command) {
    if (!text.empty()) text += ' ';
    text += word;
  }
  return text;
}

std::string lease_hex(std::int64_t lease) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx",
                static_cast<unsigned long long>(lease));
  return buf;
}

// Decides, every tick while the command runs, whether the lock may still
// be relied on; see "losing the lock" in filelock-etcd(1).
class loss_watch {
 public:
  loss_watch(std::string name, const fe::lease_monitor& m, bool kill,
             milliseconds margin, milliseconds grace)
      : name_(std::move(name)),
        m_(m),
        kill_(kill),
        margin_(margin),
        grace_(grace) {}

  // False: terminate the command (then KILL after grace()).
  bool tick() {
    if (lost_) return !kill_;
    const auto now = steady_clock::now();
    const auto silent = now - m_.confirmed_at();
    const auto stop_at = m_.safe_until() - margin_ - grace_;
    const std::string then =
        kill_ ? "; stopping the command"
              : "; the command keeps running (--on-lost warn)";
    if (m_.lost()) {
      lost_ = true;
      say("lost the lock '" + name_ + "': " + m_.lost_reason() + then);
      return !kill_;
    }
    if (now >= stop_at) {
      lost_ = true;
      say("lost the lock '" + name_ +
          "': etcd has not confirmed its lease "
          "for " +
          seconds_text(silent) + " and it may expire in " +
          seconds_text(m_.safe_until() - now) + then);
      return !kill_;
    }
    if (!warned_ && silent >= m_.ttl() / 2) {
      warned_ = true;
      say("etcd has not confirmed the lease of '" + name_ + "' for " +
          seconds_text(silent) + "; the lock is at risk" +
          (kill_ ? ": stopping the command in " + seconds_text(stop_at - now) +
                       " unless etcd answers"
                 : std::string()));
    }
    return true;
  }

  bool lost() const { return lost_ || m_.lost(); }
  milliseconds grace() const { return grace_; }

 private:
  std::string name_;
  const fe::lease_monitor& m_;
  bool kill_;
  milliseconds margin_;
  milliseconds grace_;
  bool lost_ = false;
  bool warned_ = false;
};

std::vector<std::string> child_env(const run_args& a, const fe::options& o,
                                   const fe::lease_monitor& m) {
  std::string endpoints;
  try {
    for (const auto& e : fe::parse_name(a.lock.path, o.endpoints).endpoints) {
      if (!endpoints.empty()) endpoints += ',';
      endpoints += e;
    }
  } catch (const filelock::error&) {
  }
  std::vector<std::string> env = {
      "FILELOCK_PATH=" + a.lock.path,
      "FILELOCK_NAME=" + a.lock.path,
      "FILELOCK_MODE=" + std::string(to_string(a.lock.mode())),
      "FILELOCK_KIND=etcd",
      "FILELOCK_BACKEND=etcd",
      "FILELOCK_FENCE=" + std::to_string(m.fence()),
      "FILELOCK_KEY=" + m.key(),
      "FILELOCK_ETCD_KEY=" + m.key(),
      "FILELOCK_ETCD_LEASE=" + lease_hex(m.lease()),
      "FILELOCK_ETCD_ENDPOINTS=" + endpoints,
      "FILELOCK_LEASE_TTL=" + std::to_string(m.ttl().count()),
      // For scripts written for `etcdctl lock`; its ETCD_LOCK_REV is not
      // set, as etcdctl's value is not the key's create revision.
      "ETCD_LOCK_KEY=" + m.key(),
      "FILELOCK_ETCD_PID=" + std::to_string(current_pid()),
  };
  // As for a local semaphore; the number is unique among the holders.
  if (m.slot() > 0) env.push_back("FILELOCK_SLOT=" + std::to_string(m.slot()));
  return env;
}

// The status run exits with for the command: its own, 128+N for signal N,
// 126/127 when it could not be started.
int child_status(const child_result& c, const child_spec& spec) {
  if (c.status == child_result::how::not_started) {
    say("cannot run '" + spec.argv.front() + "': " +
        std::error_code(c.start_error, std::generic_category()).message());
    return to_int(c.start_error == ENOENT ? exit_code::not_found
                                          : exit_code::not_executable);
  }
  return c.status == child_result::how::signalled ? 128 + c.code : c.code;
}

// A nested run on a name an ancestor holds would queue behind its own
// ancestor forever; the ancestor's FILELOCK_ETCD_KEY and FILELOCK_ETCD_PID
// tell, as FILELOCK_HELD does for local locks. An exclusive hold covers any
// nested mode; a shared one only shared.
bool ancestor_holds(const run_args& a, const fe::options& o) {
  const char* key = std::getenv("FILELOCK_ETCD_KEY");
  const char* pid = std::getenv("FILELOCK_ETCD_PID");
  if (!key || !pid) return false;
  std::string prefix;
  try {
    prefix = fe::parse_name(a.lock.path, o.endpoints).name + "/";
  } catch (const filelock::error&) {
    return false;
  }
  const std::string k = key;
  if (!k.starts_with(prefix) || !is_ancestor(std::atoll(pid))) return false;
  const bool shared = k.substr(prefix.size()).starts_with("r/");
  return !shared || a.lock.mode() == lock_mode::shared;
}

std::optional<std::string> refuse_for_etcd(const run_args& a) {
  if (a.no_fork) {
    return "run: -F cannot hold an etcd lock: the lease needs filelock "
           "running to renew it";
  }
  if (a.inherit) return "run: --inherit: an etcd lock has no descriptor";
  if (a.kind != "auto") return "run: --kind does not apply to etcd locks";
  if (!a.lifetime.empty()) {
    return "run: --lifetime is for soft locks; an etcd lock has "
           "--lease-ttl";
  }
  return std::nullopt;
}

deadline until_of(const lock_args& la) {
  const auto wait = la.wait();
  if (!wait) return std::nullopt;
  if (wait->count() <= 0) return steady_clock::time_point::min();
  return steady_clock::now() + std::chrono::ceil<steady_clock::duration>(*wait);
}

// The words of describe_slots_mismatch (local semaphores), for the record
// in the key NAME.
std::string describe_etcd_slots_mismatch(const std::string& name,
                                         const fe::options& o,
                                         unsigned recorded) {
  if (recorded > 0) {
    return "cannot lock '" + name + "': it is a semaphore of " +
           std::to_string(recorded) + " slots; use --slots " +
           std::to_string(recorded) + " with it";
  }
  std::string key;
  try {
    key = fe::parse_name(name, o.endpoints).name;
  } catch (const filelock::error&) {
  }
  return "cannot lock '" + name + "' with --slots: the etcd key '" + key +
         "' exists and is not a semaphore (it records no slot count)";
}

// Takes the lock for run and acquire: the result, or an exit status.
std::variant<fe::acquired, int> take(const std::string& name,
                                     const lock_args& la,
                                     const fe::options& o) {
  fe::lock lock(name, o);
  wait_signals signals;
  const deadline until = until_of(la);
  // No holder on the line: asking etcd every second could keep the wait
  // going after the lock is ours, until that request ends.
  std::optional<wait_line> line;
  if (!until || *until != steady_clock::time_point::min()) {
    line.emplace(la, wait_line::settings{la.path, nullptr, until, false});
  }
  auto r = lock.acquire_until(until, la.mode(), signals.token());
  if (line) line->stop();
  if (signals.signal() != 0) {
    if (r.result.acquired()) r.result.lock.release();
    signals.reraise();
  }
  signals.finish();
  switch (r.result.status) {
    case acquire_status::acquired:
      return r;
    case acquire_status::busy:
    case acquire_status::timed_out:
      if (!la.quiet) {
        say(describe_busy(la, r.result.holder,
                          r.result.status == acquire_status::timed_out));
      }
      return la.conflict_exit;
    case acquire_status::cancelled:
    case acquire_status::failed:
      break;
  }
  if (r.result.error == errc::slots_mismatch) {
    say(describe_etcd_slots_mismatch(name, o, r.recorded_slots));
    return to_int(exit_code::usage);
  }
  say(failure_text(name, r.result.operation, r.result.error, r.detail));
  return to_int(etcd_code_for(r.result.error));
}

std::string ttl_text(const fe::entry& e) {
  if (e.lease == 0) return "no lease: never expires";
  if (!e.ttl_left) return "lease " + lease_hex(e.lease) + " expired";
  return "lease " + lease_hex(e.lease) + ", " +
         std::to_string(e.ttl_left->count()) + " s left";
}

std::string who(const fe::entry& e) {
  if (e.owner_unknown) return "unknown owner (etcdctl or another client)";
  holder_info h = e.holder;
  h.command.clear();
  h.since.reset();
  return describe_owner(h);
}

json entry_json(const fe::entry& e) {
  json h = e.owner_unknown ? json::object() : holder_json(e.holder);
  if (e.owner_unknown) h["mode"] = to_string(e.holder.mode);
  h["key"] = e.key;
  h["fence"] = e.fence;
  h["lease"] = e.lease ? json(lease_hex(e.lease)) : json(nullptr);
  h["ttl_left"] = e.ttl_left ? json(e.ttl_left->count()) : json(nullptr);
  h["position"] = e.position;
  h["slot"] = e.slot > 0 ? json(e.slot) : json(nullptr);
  h["owner_unknown"] = e.owner_unknown;
  h["stale_reason"] =
      e.stale_reason.empty() ? json(nullptr) : json(e.stale_reason);
  return h;
}

const fe::entry* slot_holder(const fe::report& r, unsigned n) {
  for (const auto& e : r.entries) {
    if (e.holds && e.slot == n) return &e;
  }
  return nullptr;
}

json report_doc(const fe::report& r) {
  json obj = json::object();
  obj["path"] = r.name;
  obj["state"] = to_string(r.state);
  obj["kind"] = "etcd";
  json holders = json::array(), waiters = json::array();
  std::string stale, mode;
  bool unknown = false;
  for (const auto& e : r.entries) {
    (e.holds ? holders : waiters).push_back(entry_json(e));
    if (!e.holds) continue;
    if (mode.empty()) mode = to_string(e.holder.mode);
    if (stale.empty()) stale = e.stale_reason;
    unknown = unknown || e.owner_unknown;
  }
  obj["mode"] = mode.empty() ? json(nullptr) : json(mode);
  obj["holders"] = std::move(holders);
  obj["stale_reason"] = stale.empty() ? json(nullptr) : json(stale);
  obj["owner_unknown"] = unknown;
  obj["record_error"] = nullptr;
  obj["record_format"] = r.entries.empty() ? json(nullptr) : json("filelock");
  obj["backend"] = "etcd";
  obj["endpoints"] = r.endpoints;
  obj["revision"] = r.revision;
  obj["waiters"] = std::move(waiters);
  // A semaphore: as for a local one, every slot in order, free ones too.
  obj["slots"] = r.slots > 0 ? json(r.slots) : json(nullptr);
  obj["slot_list"] = json::array();
  for (unsigned n = 1; n <= r.slots; ++n) {
    const fe::entry* held = slot_holder(r, n);
    obj["slot_list"].push_back(
        {{"slot", n},
         {"state", held ? "held" : "free"},
         {"holder", held ? entry_json(*held) : json(nullptr)}});
  }
  return obj;
}

std::string report_text(const fe::report& r) {
  std::ostringstream out;
  out << r.name << '\n';
  out << "  state:   " << to_string(r.state) << '\n';
  if (r.entries.empty() && r.slots == 0) return out.str();
  out << "  kind:    etcd (revision " << r.revision << ")\n";
  auto print = [&](const std::string& label, const fe::entry& e) {
    out << label << who(e) << ", " << to_string(e.holder.mode) << ", fence "
        << e.fence << ", " << ttl_text(e) << '\n';
    if (e.holder.since)
      out << "    since:   " << rfc3339(*e.holder.since) << '\n';
    if (!e.holder.command.empty()) {
      out << "    command: " << one_line(e.holder.command) << '\n';
    }
    if (!e.stale_reason.empty()) {
      out << "    stale:   " << e.stale_reason << '\n';
    }
  };
  if (r.slots > 0) {
    std::size_t held = 0;
    for (const auto& e : r.entries) held += e.holds ? 1 : 0;
    out << "  slots:   " << r.slots << " (" << held << " held)\n";
    for (unsigned n = 1; n <= r.slots; ++n) {
      const std::string label = "  slot " + std::to_string(n) + ":  ";
      if (const auto* e = slot_holder(r, n)) {
        print(label, *e);
      } else {
        out << label << "free\n";
      }
    }
  }
  for (const auto& e : r.entries) {
    if (e.holds && r.slots > 0 && e.slot > 0) continue;  // listed above
    print(e.holds ? "  holder:  "
                  : "  waiter " + std::to_string(e.position) + ": ",
          e);
  }
  return out.str();
}

etcd_entry error_entry(const std::string& name, const filelock::error& err) {
  etcd_entry out;
  const auto code = etcd_code_for(err.code());
  const auto msg = failure_text(name, err.operation(), err.code(), {});
  say(msg);
  out.status = to_int(code);
  out.doc = json::object();
  out.doc["path"] = name;
  out.doc["state"] = "error";
  out.doc["kind"] = "etcd";
  out.doc["mode"] = nullptr;
  out.doc["holders"] = json::array();
  out.doc["error"] = error_json(code, msg);
  return out;
}

}  // namespace

etcd_args& etcd_settings() {
  static etcd_args args;
  return args;
}

bool is_etcd_lock(const std::string& name) {
  return fe::is_etcd_name(name);
}

void add_etcd_options(CLI::App& cmd, bool with_run) {
  auto& e = etcd_settings();
  const char* group = "etcd locks (etcd://HOST:PORT/NAME, etcd:NAME)";
  cmd.add_option("--etcd-endpoints", e.endpoints,
                 "Endpoints for etcd:NAME (else FILELOCK_ETCD_ENDPOINTS or "
                 "ETCDCTL_ENDPOINTS)")
      ->type_name("URL,...")
      ->group(group);
  cmd.add_option("--lease-ttl", e.lease_ttl,
                 "TTL of the lock's lease: seconds, or with a unit "
                 "(default 15s)")
      ->type_name("DURATION")
      ->group(group);
  cmd.add_option("--etcd-cacert", e.cacert,
                 "CA bundle to verify etcd with (else FILELOCK_ETCD_CACERT "
                 "or ETCDCTL_CACERT; default: the system's CAs)")
      ->type_name("FILE")
      ->group(group);
  cmd.add_option("--etcd-cert", e.cert,
                 "Client certificate (else FILELOCK_ETCD_CERT or "
                 "ETCDCTL_CERT; default: none)")
      ->type_name("FILE")
      ->group(group);
  cmd.add_option("--etcd-key", e.key,
                 "Client certificate's key (else FILELOCK_ETCD_KEY or "
                 "ETCDCTL_KEY; default: none)")
      ->type_name("FILE")
      ->group(group);
  cmd.add_flag("--etcd-insecure-skip-tls-verify", e.insecure,
               "Do not verify etcd's certificate (tests only)")
      ->group(group);
  cmd.add_option("--etcd-user", e.user,
                 "User name (else FILELOCK_ETCD_USER or ETCDCTL_USER; "
                 "default: none); the password comes from "
                 "--etcd-password-file or FILELOCK_ETCD_PASSWORD, never the "
                 "command line")
      ->type_name("NAME")
      ->group(group);
  cmd.add_option("--etcd-password-file", e.password_file,
                 "File whose first line is the etcd password (else "
                 "FILELOCK_ETCD_PASSWORD_FILE)")
      ->type_name("FILE")
      ->group(group);
  if (!with_run) return;
  cmd.add_option("--lost-grace", e.lost_grace,
                 "Time between TERM and KILL: seconds, or with a unit "
                 "(default min(5s, TTL/3))")
      ->type_name("DURATION")
      ->group(group);
}

exit_code etcd_code_for(const std::error_code& ec) {
  if (ec == fe::errc::unavailable) return exit_code::unavailable;
  if (ec == fe::errc::access_denied) return exit_code::no_permission;
  if (ec == fe::errc::bad_name || ec == fe::errc::not_built ||
      ec == fe::errc::no_endpoints || ec == fe::errc::curl_unavailable) {
    return exit_code::usage;
  }
  if (ec.category() == fe::category()) return exit_code::internal;
  return code_for("lock", ec);
}

int run_etcd(const run_args& a) {
  if (auto bad = refuse_for_etcd(a)) {
    say(*bad);
    return to_int(exit_code::usage);
  }
  const auto& e = etcd_settings();
  fe::options o;
  if (auto bad = make_options(e, o)) {
    say("run: " + *bad);
    return to_int(exit_code::usage);
  }
  o.command = command_text(a);
  o.slots = a.slots;
  if (a.lock.verbose) o.on_diagnostic = [](std::string_view l) { say(l); };
  if (ancestor_holds(a, o)) {
    if (a.lock.verbose) {
      say("'" + a.lock.path + "' is held by an ancestor; running under it");
    }
    child_spec spec;
    spec.argv =
        a.shell_command.empty() ? a.command : shell_argv(a.shell_command);
    apply_time_limit(a, spec);
    const child_result c = run_child(spec);
    return time_limited_status(a, c, child_status(c, spec));
  }

  auto taken = take(a.lock.path, a.lock, o);
  if (auto* status = std::get_if<int>(&taken)) return *status;
  auto& r = std::get<fe::acquired>(taken);
  const auto& m = *r.monitor;

  milliseconds grace = std::min<milliseconds>(seconds(5), m.ttl() / 3);
  if (!e.lost_grace.empty()) {
    std::string why;
    auto d = parse_duration(e.lost_grace, why);
    if (!d) {
      r.result.lock.release();
      say("run: bad --lost-grace '" + e.lost_grace + "': " + why);
      return to_int(exit_code::usage);
    }
    grace = std::chrono::ceil<milliseconds>(*d);
  }
  if (a.lock.verbose && m.slot() > 0) {
    say("holding slot " + std::to_string(m.slot()) + " of " +
        std::to_string(a.slots) + " of '" + a.lock.path + "'");
  }
  if (a.lock.verbose) {
    say("holding '" + a.lock.path + "' (fence " + std::to_string(m.fence()) +
        ", lease " + lease_hex(m.lease()) + ", TTL " +
        std::to_string(m.ttl().count()) + " s)");
  }

  // The lease runs out on the server's clock, and the next holder starts
  // then: a command left running would run beside it, hence kill by default.
  loss_watch watch(a.lock.path, m, a.on_lost != "warn", o.margin, grace);
  child_spec spec;
  spec.argv = a.shell_command.empty() ? a.command : shell_argv(a.shell_command);
  spec.env = child_env(a, o, m);
  // Ticks only read the monitor (no network): frequent ones cost nothing
  // and keep the stop within a tick of its deadline.
  spec.tick_interval = milliseconds(50);
  spec.on_tick = [&watch] { return watch.tick(); };
  spec.kill_after = grace;
  apply_time_limit(a, spec);
  const child_result c = run_child(spec);

  watch.tick();  // lost while the command was ending?
  std::error_code ec;
  r.result.lock.release(ec);
  if (c.status == child_result::how::not_started) return child_status(c, spec);
  if (watch.lost()) return to_int(exit_code::lock_lost);
  if (ec && ec != filelock::errc::lock_lost) {
    say(failure_text(a.lock.path, "release", ec, {}));
  }
  return time_limited_status(a, c, child_status(c, spec));
}

int acquire_etcd(const acquire_args& a) {
  if (a.lifetime.empty()) {
    say("acquire: an etcd lock outlives this command only as a lease: give "
        "--lifetime DURATION");
    return to_int(exit_code::usage);
  }
  std::string why;
  auto life = parse_duration(a.lifetime, why);
  if (!life || *life < seconds(1)) {
    say("acquire: bad --lifetime '" + a.lifetime +
        "': " + (why.empty() ? "at least 1s" : why));
    return to_int(exit_code::usage);
  }
  fe::options o;
  if (auto bad = make_options(etcd_settings(), o)) {
    say("acquire: " + *bad);
    return to_int(exit_code::usage);
  }
  o.lease_ttl = std::chrono::ceil<seconds>(*life);
  o.keep_alive = false;
  o.owner_pid = owner_process(a.owner_pid);
  o.slots = a.slots;
  if (a.slots > 0 && a.lock.shared) {
    say("acquire: --slots takes exclusive slots; drop -s");
    return to_int(exit_code::usage);
  }
  auto taken = take(a.lock.path, a.lock, o);
  if (auto* status = std::get_if<int>(&taken)) return *status;
  auto& r = std::get<fe::acquired>(taken);
  const auto key = r.result.lock.detach();
  const auto& m = *r.monitor;
  if (a.json) {
    json lock = json::object();
    lock["path"] = a.lock.path;
    lock["kind"] = "etcd";
    lock["mode"] = to_string(a.lock.mode());
    lock["lifetime"] = m.ttl().count();
    lock["token"] = key;
    lock["key"] = key;
    lock["fence"] = m.fence();
    lock["lease"] = lease_hex(m.lease());
    if (m.slot() > 0) lock["slot"] = m.slot();
    print_json({{"filelock", kJsonSchemaVersion}, {"lock", std::move(lock)}});
  } else {
    std::cout << key << '\n' << std::flush;
  }
  return 0;
}

int release_etcd(const release_args& a) {
  fe::options o;
  if (auto bad = make_options(etcd_settings(), o)) {
    say("release: " + *bad);
    return to_int(exit_code::usage);
  }
  try {
    // The key acquire printed (--token), else the key this owner holds.
    std::string key = a.token;
    const auto owner = owner_process(a.owner_pid);
    if (key.empty()) {
      for (const auto& e : fe::inspect(a.path, o).entries) {
        if (!e.owner_unknown && e.holder.pid == owner &&
            e.holder.host == host_name()) {
          key = e.key;
          break;
        }
      }
    }
    auto outcome = key.empty()
                       ? release_outcome::not_held
                       : fe::release_key(a.path, key, owner, a.force, o);
    switch (outcome) {
      case release_outcome::released:
        if (a.verbose) say("released '" + a.path + "' (" + key + ")");
        return 0;
      case release_outcome::not_owner:
        say("cannot release '" + a.path + "': " + key +
            " belongs to another owner (--force releases it)");
        return to_int(exit_code::no_permission);
      default:
        if (!a.quiet)
          say("'" + a.path + "' is not held by process " +
              std::to_string(owner));
        return to_int(exit_code::busy);
    }
  } catch (const filelock::error& err) {
    say(failure_text(a.path, err.operation(), err.code(), {}));
    return to_int(etcd_code_for(err.code()));
  }
}

etcd_entry status_etcd(const std::string& name) {
  fe::options o;
  if (auto bad = make_options(etcd_settings(), o)) {
    say("status: " + *bad);
    return {json::object(), {}, to_int(exit_code::usage)};
  }
  try {
    auto r = fe::inspect(name, o);
    return {report_doc(r), report_text(r), status_for(r.state)};
  } catch (const filelock::error& err) {
    return error_entry(name, err);
  }
}

etcd_entry break_stale_etcd(const std::string& name,
                            const break_stale_args& a) {
  fe::options o;
  if (auto bad = make_options(etcd_settings(), o)) {
    say("break-stale: " + *bad);
    return {json::object(), {}, to_int(exit_code::usage)};
  }
  try {
    break_options how;
    how.force = a.force;
    how.dry_run = a.dry_run;
    auto r = fe::break_stale(name, how, o);
    etcd_entry out;
    out.doc = report_doc(r.before);
    out.doc["outcome"] = std::string(to_string(r.outcome));
    json broken = json::array();
    std::string keys;
    for (const auto& e : r.broken) {
      broken.push_back(entry_json(e));
      keys += (keys.empty() ? "" : ", ") + who(e) + " (" + e.key + ")";
    }
    out.doc["broken"] = std::move(broken);
    const std::string p = "'" + name + "': ";
    switch (r.outcome) {
      case break_outcome::removed:
        out.text = p + "revoked the lease of " + keys;
        break;
      case break_outcome::would_remove:
        out.text = p + "would revoke the lease of " + keys;
        out.status = 2;
        break;
      case break_outcome::nothing_to_do:
        out.text = p + "nothing to do (free)";
        break;
      case break_outcome::refused_live:
        out.text = p + "left alone: held by a live owner";
        break;
      case break_outcome::refused_unknown:
        out.text = p + "left alone: owner unknown; --force revokes it";
        break;
      case break_outcome::lost_race:
        out.text = p + "left alone: its holders left meanwhile";
        break;
    }
    return out;
  } catch (const filelock::error& err) {
    return error_entry(name, err);
  }
}

}  // namespace filelock::cli
