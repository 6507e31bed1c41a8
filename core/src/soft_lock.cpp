// The soft lock: whoever made the lock path exist holds the lock (see
// inspect.hpp for the contract).
//
// CREATING THE MARKER
//   The owner record is written to a uniquely named temporary file in the
//   lock's directory (O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC), flushed, and
//   then hard-linked to the lock path. link(2) fails with EEXIST when the
//   path exists, atomically on every filesystem: a marker is therefore
//   never visible half-written, and a full disk (C33) fails while writing
//   the temporary file, which is then removed, leaving nothing behind.
//   O_EXCL alone would also be atomic on NFSv3 and later (the protocol has
//   an exclusive CREATE) and on Linux since 2.6.5, but not on NFSv2, whose
//   clients had to emulate it with exactly this link-and-count idiom; it
//   also could not publish the content together with the name.
//
// REMOVING A MARKER (release, taking over, break-stale)
//   POSIX has no "unlink if it is still this file", and every remover first
//   looks, then acts. The window between the two is where lock tools go
//   wrong: two breakers judge the same dead marker stale, the first removes
//   it, an acquirer creates a fresh one, and the second breaker removes
//   that. So every removal of a given acquisition goes through a claim:
//     1. Create ".<name>.claim-<token>" with O_EXCL. Only one remover of an
//        acquisition ever gets past this step (EEXIST: someone else is
//        removing it; we back off). Closes: two removers of one marker.
//     2. Re-read the lock path and check that it still holds that token.
//        Closes: a remover that claims after an earlier one already
//        finished (removed marker and claim); the path now holds a new
//        acquisition, or nothing, and must not be touched. Tokens are
//        compared, not inode numbers, which the filesystem reuses.
//     3. Judge again from what was re-read (breakers only): still stale,
//        and nobody holds an OS lock on it (C10). Closes: a lease renewed
//        between the first judgment and the claim; the owner checks for a
//        claim after each renewal, so one of the two always sees the other.
//     4. unlink the lock path. Safe: from step 1 until the claim is gone no
//        one else removes this acquisition's marker, and nothing replaces a
//        marker in place (creation is link(), which fails on an existing
//        name, and a renewal only touches the mtime), so the path still
//        names the file step 2 read.
//     5. unlink the claim.
//   Never unlink-then-create, never rename over the lock path. A remover
//   killed between steps 1 and 5 leaves its claim behind; the next remover
//   that proves it gone claims again in the next generation (claim_path).
//   Markers without a token (unknown owner, Python owner lines) are claimed
//   under their inode number and mtime instead.
//
//   An acquirer killed between writing its temporary file and linking it,
//   or a remover killed between steps 4 and 5, leaves a
//   ".<name>.<token>.<pid>.tmp" or an orphaned claim file behind. They block
//   nothing; break_stale sweeps them (find_leftovers).
#include "soft_lock.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "backend.hpp"
#include "holding.hpp"
#include "slots.hpp"

namespace filelock::detail {
namespace {

using namespace std::chrono;
using platform::file_id;

// Long lock names are cut in the helper files' names, which must stay
// within NAME_MAX; the token keeps them unique.
constexpr std::size_t kNamePrefix = 100;

const std::string& this_host() {
  static const std::string host = platform::host_name();
  return host;
}

const std::string& this_boot() {
  static const std::string boot = platform::boot_id();
  return boot;
}

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

const std::optional<wall_time>& this_boot_time() {
  static const auto t = platform::boot_time();
  return t;
}

// Whether a new marker's record must reach the disk before it is linked
// into place. On a local filesystem it need not: a crash that loses the
// record also reboots the machine, and a marker older than the boot is
// stale whatever it holds (made_before_boot). On a network filesystem the
// server outlives our crash and its clock sets the mtime, so that rule does
// not apply; worse, until our client writes the data back, other clients
// would read the marker empty even without a crash. Where the boot time is
// unknown (Windows) nothing would ever clear an empty marker but a forced
// break, so we flush there too.
bool must_flush(const std::filesystem::path& lock_path) {
  return !this_boot_time() ||
         platform::is_network_filesystem(dir_of(lock_path));
}

std::string short_name(const std::filesystem::path& p) {
  return p.filename().string().substr(0, kNamePrefix);
}

// Claims of one acquisition come in generations: ".<name>.claim-<key>"
// is the first, ".<name>.claim-<key>.<n>" the n-th ('.' is in no key).
// A remover killed after claiming would otherwise leave the marker
// removable by nobody but a forced break, and the lock stuck for good
// (seen in t_sigkill_stress); the next remover instead proves that
// claimer gone and claims the next generation, and still at most one
// remover per generation gets through. The owner looks for the first
// generation only: it stays until the marker is gone.
constexpr int kClaimGenerations = 16;

std::filesystem::path claim_path(const std::filesystem::path& p,
                                 const std::string& key, int generation = 0) {
  auto name = "." + short_name(p) + ".claim-" + key;
  if (generation > 0) name += "." + std::to_string(generation);
  return dir_of(p) / name;
}

std::string seconds_text(milliseconds ms) {
  auto text = std::to_string(ms.count() / 1000);
  if (ms.count() % 1000 != 0) {
    auto frac = std::to_string(1000 + ms.count() % 1000).substr(1);
    while (frac.back() == '0') frac.pop_back();
    text += "." + frac;
  }
  return text + " s";
}

struct verdict {
  bool stale = false;
  std::string reason;
};

enum class fate { may_live, gone, reused };

// Whether process pid (started at `start`, when known) is provably gone.
fate fate_of(std::int64_t pid, const std::string& start) {
  switch (platform::process_liveness(pid)) {
    case platform::liveness::gone:
      return fate::gone;
    case platform::liveness::unknown:
      return fate::may_live;
    case platform::liveness::alive:
      break;
  }
  if (!start.empty()) {
    const auto now_start = platform::process_start(pid);
    if (!now_start.empty() && now_start != start) return fate::reused;
  }
  return fate::may_live;
}

verdict judge(const owner_record& r, wall_time mtime) {
  const auto pid = std::to_string(r.pid);
  if (r.lifetime && mtime + *r.lifetime < system_clock::now()) {
    return {true, "its lifetime of " + seconds_text(*r.lifetime) +
                      " ran out at " + format_time(mtime + *r.lifetime)};
  }
  // Another host's pid means nothing here.
  if (r.host != this_host()) return {};
  if (!r.boot_id.empty() && !this_boot().empty() && r.boot_id != this_boot()) {
    return {true, "the host has rebooted since process " + pid + " took it"};
  }
  const auto owner = fate_of(r.pid, r.start);
  if (owner == fate::may_live) return {};
  const char* reused = "; its pid now belongs to another process";
  auto why = "process " + pid + " is gone";
  if (owner == fate::reused) why += reused;
  if (r.keeper_pid > 0) {
    // The keeper outlives the owner only to stop what the owner started;
    // until it is gone too, that may still be running.
    const auto keeper = fate_of(r.keeper_pid, r.keeper_start);
    if (keeper == fate::may_live) return {};
    why += ", and so is its keeper " + std::to_string(r.keeper_pid);
    if (keeper == fate::reused) why += std::string(" (") + (reused + 2) + ")";
  }
  return {true, why};
}

// An unknown owner's marker (empty or garbled) made before this machine
// booted, on a local filesystem whose mtimes come from our own clock,
// belongs to a process that died in the reboot: its record was lost in
// the crash, since markers are not flushed to disk there (must_flush).
// A marker with a record is judged by that record instead (pid, start
// time, boot id), never by its mtime: on a machine without a real-time
// clock the wall clock is set forward after boot, and a live holder's
// marker written before that would look older than the boot.
verdict made_before_boot(const std::filesystem::path& path,
                         const soft_view& v) {
  const auto& boot = this_boot_time();
  if (v.parsed.record || !boot || v.marker.mtime >= *boot) return {};
  if (platform::is_network_filesystem(dir_of(path))) return {};
  return {true, "it was made at " + format_time(v.marker.mtime) +
                    ", before this machine booted at " + format_time(*boot)};
}

// How a marker's acquisition is named in its claim file.
std::string claim_key(const soft_view& v) {
  if (v.parsed.record && !v.parsed.record->token.empty()) {
    return v.parsed.record->token;
  }
  const auto ns =
      duration_cast<nanoseconds>(v.marker.mtime.time_since_epoch()).count();
  return "i" + std::to_string(v.marker.id.inode) + "-" + std::to_string(ns);
}

bool same_acquisition(const soft_view& a, const soft_view& b) {
  if (!a.present || !b.present) return false;
  const bool a_token = a.parsed.record && !a.parsed.record->token.empty();
  const bool b_token = b.parsed.record && !b.parsed.record->token.empty();
  if (a_token || b_token) {
    return a_token && b_token &&
           a.parsed.record->token == b.parsed.record->token;
  }
  return a.marker.id == b.marker.id && a.marker.mtime == b.marker.mtime &&
         a.marker.content == b.marker.content;
}

enum class removal {
  removed,
  changed,  // step 2: it is not the judged marker any more
  refused,  // step 3: no longer removable
  claimed,  // step 1: someone else is removing it
};

// ".<name>.<token>.<pid>.tmp": the pid of its maker, so that a file left
// empty by a maker killed before it wrote anything can still be judged.
std::filesystem::path temp_path(const std::filesystem::path& p,
                                const std::string& token) {
  return dir_of(p) / ("." + short_name(p) + "." + token + "." +
                      std::to_string(platform::current_pid()) + ".tmp");
}

// Who claims: the remover's record, by which the next remover judges
// whether it was killed at work.
owner_record claimer_record() {
  owner_record me;
  me.pid = platform::current_pid();
  me.start = platform::process_start(me.pid);
  me.boot_id = this_boot();
  me.host = this_host();
  me.since = system_clock::now();
  me.token = platform::new_token();
  return me;
}

// Creates the claim c, EEXIST when it exists. Published like a marker (a
// complete temporary file hard-linked into place), never written in
// place: a remover killed between creating a claim and writing its record
// would leave an empty claim, which nobody can prove abandoned, and the
// lock stuck (seen in t_sigkill_stress).
bool create_claim(const std::filesystem::path& lock,
                  const std::filesystem::path& c, platform::failure& why) {
  const auto me = claimer_record();
  if (me.token.empty()) {
    why = {"create", std::make_error_code(std::errc::io_error)};
    return false;
  }
  const auto temp = temp_path(lock, me.token);
  auto f =
      platform::write_new_file(temp, to_json(me), std::nullopt, false, why);
  if (!f.valid()) {
    if (why.operation != "write") return false;
    // A full disk must not keep an owner from releasing: an empty claim
    // needs no data blocks (at the price of the risk above).
    f = platform::write_new_file(c, {}, std::nullopt, false, why);
    return f.valid();
  }
  std::error_code ec;
  const auto published = platform::publish(f, temp, c, ec);
  std::error_code ignored;
  platform::remove_file(temp, ignored);
  switch (published) {
    case platform::publish_status::linked:
      return true;
    case platform::publish_status::exists:
      why = {"create", std::make_error_code(std::errc::file_exists)};
      return false;
    case platform::publish_status::failed:
      why = {"create", ec};
      return false;
  }
  return false;
}

enum class claimer { gone, may_be_alive, vanished };

// Judges the remover that made a claim by the record it wrote in it, as a
// marker's owner is judged. An empty claim (being written, or made on a
// full disk) may be anyone's.
claimer judge_claimer(const std::filesystem::path& claim) {
  platform::marker_state m;
  platform::failure why;
  switch (platform::read_marker(claim, m, why)) {
    case platform::read_status::missing:
      return claimer::vanished;
    case platform::read_status::failed:
      throw error(why.operation, claim, why.code);
    case platform::read_status::ok:
      break;
  }
  const auto parsed = parse_record(m.content);
  if (!parsed.record) return claimer::may_be_alive;
  return judge(*parsed.record, m.mtime).stale ? claimer::gone
                                              : claimer::may_be_alive;
}

// Step 1: claims the acquisition named `key`, in the first generation
// whose claimer is not provably gone. Returns the generation, or -1 when
// a live remover is on it.
int claim(const std::filesystem::path& path, const std::string& key) {
  int generation = 0;
  for (int tries = 0;
       generation < kClaimGenerations && tries < 4 * kClaimGenerations;
       ++tries) {
    const auto c = claim_path(path, key, generation);
    platform::failure why;
    if (create_claim(path, c, why)) return generation;
    if (why.code != std::errc::file_exists) {
      throw error(why.operation, c, why.code);
    }
    switch (judge_claimer(c)) {
      case claimer::gone:
        ++generation;
        break;
      case claimer::vanished:
        break;  // it finished meanwhile: this generation again
      case claimer::may_be_alive:
        return -1;
    }
  }
  return -1;
}

// Removes the claims of `key` from `generation` down to the first.
void drop_claims(const std::filesystem::path& path, const std::string& key,
                 int generation) noexcept {
  try {
    for (int g = generation; g >= 0; --g) {
      std::error_code ec;
      platform::remove_file(claim_path(path, key, g), ec);
    }
  } catch (...) {
    // Only allocation can throw here; a leftover claim is swept later.
  }
}

// The algorithm in the comment at the top of this file.
removal remove_marker(const std::filesystem::path& path,
                      const soft_view& judged,
                      bool (*still_removable)(const soft_view&)) {
  const auto key = claim_key(judged);
  const int generation = claim(path, key);
  if (generation < 0) return removal::claimed;

  soft_view now;
  try {
    now = look_soft(path, true);
  } catch (...) {
    drop_claims(path, key, generation);
    throw;
  }
  // Not the judged marker any more: every claim on it is moot.
  if (!same_acquisition(judged, now)) {
    drop_claims(path, key, generation);
    return removal::changed;
  }
  if (still_removable && !still_removable(now)) {
    // Earlier generations' claimers are gone, but their claims still tell
    // the owner that its marker was judged stale.
    std::error_code ec;
    platform::remove_file(claim_path(path, key, generation), ec);
    return removal::refused;
  }

  std::error_code ec;
  platform::remove_file(path, ec);
  drop_claims(path, key, generation);
  if (ec) throw error("remove", path, ec);
  return removal::removed;
}

bool is_stale_now(const soft_view& v) {
  return v.state == lock_state::stale && !v.os_locked;
}

bool not_os_locked(const soft_view& v) {
  return !v.os_locked;
}

// ---- The process's table of held soft locks, for reentrancy.

struct soft_entry {
  std::filesystem::path path;
  // A semaphore's slot: the semaphore's name and the slot's number.
  std::filesystem::path shown;
  unsigned slot = 0;
  file_id id;
  // Open for the life of the lock: lease renewals touch it, and while it is
  // open its inode number cannot be given to another file.
  platform::file_handle file;
  soft_view mine;  // as created, for removal
  std::string token;
  std::int64_t pid = 0;
  bool joinable = true;
  bool flush = true;  // see must_flush
  std::map<owner_id, unsigned> counts;
};

class soft_table {
 public:
  static soft_table& instance() {
    static soft_table* t = new soft_table;  // never destroyed: see os_lock
    return *t;
  }
  std::mutex mutex;
  std::map<file_id, std::shared_ptr<soft_entry>> entries;
};

// Gives the marker back; errc::lock_lost when it is not ours any more.
void remove_own(const soft_entry& e, std::error_code& ec) noexcept {
  try {
    switch (remove_marker(e.path, e.mine, nullptr)) {
      case removal::removed:
        return;
      case removal::changed:
      case removal::refused:
      case removal::claimed:
        ec = make_error_code(errc::lock_lost);
        return;
    }
  } catch (const error& err) {
    ec = err.code();
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
}

class soft_holding final : public holding {
 public:
  soft_holding(std::shared_ptr<soft_entry> e, owner_id owner)
      : entry_(std::move(e)), owner_(owner) {}

  lock_mode mode() const noexcept override { return lock_mode::exclusive; }
  lock_kind kind() const noexcept override { return lock_kind::soft; }
  const std::filesystem::path& path() const noexcept override {
    return entry_->slot > 0 ? entry_->shown : entry_->path;
  }
  int native_handle() const noexcept override { return -1; }
  unsigned slot() const noexcept override { return entry_->slot; }

  bool is_intact(std::error_code& ec) const noexcept override {
    ec.clear();
    if (!platform::path_names(entry_->path, entry_->id, ec)) return false;
    // A claim on our token: someone is removing the marker (our lease ran
    // out, or a forced break).
    return !platform::exists(claim_path(entry_->path, entry_->token), ec) &&
           !ec;
  }

  void refresh(std::error_code& ec) noexcept override {
    // Renew first, then look for a claim: see step 3 of the removal.
    if (!platform::touch(entry_->file, ec)) return;
    if (!is_intact(ec) && !ec) ec = make_error_code(errc::lock_lost);
  }

  std::string detach(std::error_code& ec) noexcept override {
    ec.clear();
    std::lock_guard lk(soft_table::instance().mutex);
    drop_count();
    return entry_->token;
  }

  void add_keeper(std::int64_t pid, std::error_code& ec) noexcept override {
    ec.clear();
    try {
      std::lock_guard lk(soft_table::instance().mutex);
      auto& rec = *entry_->mine.parsed.record;
      rec.keeper_pid = pid;
      rec.keeper_start = platform::process_start(pid);
      // In place, on our own inode: a reader catching it half-written sees
      // an unknown owner, which counts as held; after a takeover the inode
      // is no longer the marker and the write touches nobody.
      platform::failure why;
      if (!platform::rewrite_file(entry_->file, to_json(rec), entry_->flush,
                                  why)) {
        ec = why.code;
      }
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
    }
  }

  void release(std::error_code& ec) noexcept override {
    {
      std::lock_guard lk(soft_table::instance().mutex);
      if (entry_->pid != platform::current_pid()) {
        // Inherited across fork: the marker is the parent's.
        ec = make_error_code(errc::inherited_across_fork);
        return;
      }
      if (!drop_count()) return;
    }
    remove_own(*entry_, ec);
  }

 private:
  // Returns true when that was the last count: the entry left the table.
  bool drop_count() noexcept {
    auto& t = soft_table::instance();
    auto c = entry_->counts.find(owner_);
    if (c != entry_->counts.end() && --c->second == 0) {
      entry_->counts.erase(c);
    }
    if (!entry_->counts.empty()) return false;
    auto it = t.entries.find(entry_->id);
    if (it != t.entries.end() && it->second == entry_) t.entries.erase(it);
    return true;
  }

  std::shared_ptr<soft_entry> entry_;
  owner_id owner_;
};

acquire_result granted(std::shared_ptr<soft_entry> e, owner_id owner) {
  acquire_result out;
  out.status = acquire_status::acquired;
  out.lock = guard(std::make_shared<soft_holding>(std::move(e), owner));
  return out;
}

// An owner asking again for a soft lock it holds counts up.
bool join_held(const request& r, acquire_result& out) {
  auto& t = soft_table::instance();
  std::lock_guard lk(t.mutex);
  for (auto& [id, e] : t.entries) {
    std::error_code ec;
    if (!e->joinable || e->pid != platform::current_pid() ||
        !platform::path_names(r.path, e->id, ec)) {
      continue;
    }
    auto c = e->counts.find(r.owner);
    if (c == e->counts.end()) return false;  // another thread's: wait
    ++c->second;
    out = granted(e, r.owner);
    return true;
  }
  return false;
}

owner_record new_record(const request& r, std::int64_t pid) {
  owner_record rec;
  rec.pid = pid;
  rec.start = platform::process_start(pid);
  rec.boot_id = this_boot();
  rec.host = this_host();
  rec.since = system_clock::now();
  rec.lifetime = r.options.lifetime;
  rec.token = platform::new_token();
  rec.mode = lock_mode::exclusive;
  rec.command = r.options.command;
  return rec;
}

// The attempt loop's state: the unpublished marker and the wait.
class attempt {
 public:
  attempt(const request& r, owner_record rec) : r_(r), rec_(std::move(rec)) {}
  ~attempt() {
    std::error_code ec;
    if (!temp_.empty()) platform::remove_file(temp_, ec);
  }

  acquire_result run();

 private:
  bool prepare(acquire_result& out);
  bool publish_once(acquire_result& out);
  bool wait_for_change(const soft_view& seen, acquire_result& out);
  bool holder_exit_watched(const soft_view& seen);
  acquire_result not_granted(acquire_status s, const soft_view& seen);

  const request& r_;
  owner_record rec_;
  std::filesystem::path temp_;
  platform::file_handle file_;
  steady_clock::time_point written_;
  platform::dir_watch watch_;
  bool watching_ = false;
  bool waited_ = false;
  bool announced_ = false;
  bool flush_ = true;
  milliseconds interval_{0};
};

bool attempt::prepare(acquire_result& out) {
  temp_ = temp_path(r_.path, rec_.token);
  platform::failure why;
  flush_ = must_flush(r_.path);
  file_ = platform::write_new_file(temp_, to_json(rec_), r_.options.file_mode,
                                   flush_, why);
  if (!file_.valid()) {
    temp_.clear();  // write_new_file removed it
    out = failed_result(why.operation, why.code);
    return false;
  }
  written_ = steady_clock::now();
  return true;
}

// One link attempt. True when finished (granted or failed) with out set.
bool attempt::publish_once(acquire_result& out) {
  std::error_code ec;
  // After a long wait the record's "since" would lie: write it again.
  if (steady_clock::now() - written_ > seconds(1)) {
    rec_.since = system_clock::now();
    platform::failure why;
    if (!platform::rewrite_file(file_, to_json(rec_), flush_, why)) {
      out = failed_result(why.operation, why.code);
      return true;
    }
    written_ = steady_clock::now();
  }
  // The lease starts now, not when the record was written.
  if (rec_.lifetime && !platform::touch(file_, ec)) {
    out = failed_result("write", ec);
    return true;
  }
  switch (platform::publish(file_, temp_, r_.path, ec)) {
    case platform::publish_status::exists:
      return false;
    case platform::publish_status::failed:
      out = failed_result("create", ec);
      return true;
    case platform::publish_status::linked:
      break;
  }

  platform::remove_file(temp_, ec);
  temp_.clear();
  auto e = std::make_shared<soft_entry>();
  e->path = r_.path;
  if (!platform::identify(file_, e->id, ec)) {
    out = failed_result("stat", ec);
    return true;
  }
  e->file = std::move(file_);
  e->token = rec_.token;
  e->pid = platform::current_pid();
  e->joinable = !r_.options.owner_pid && r_.slot == 0;
  if (r_.slot > 0) {
    e->shown = *r_.slot_of;
    e->slot = r_.slot;
  }
  e->flush = flush_;
  e->counts[r_.owner] = 1;
  e->mine.present = true;
  e->mine.marker.id = e->id;
  e->mine.parsed.record = rec_;
  {
    auto& t = soft_table::instance();
    std::lock_guard lk(t.mutex);
    t.entries[e->id] = e;
  }
  out = granted(std::move(e), r_.owner);
  return true;
}

acquire_result attempt::not_granted(acquire_status s, const soft_view& seen) {
  acquire_result out;
  out.status = s;
  if (seen.parsed.record) out.holder = to_holder(*seen.parsed.record);
  return out;
}

// How often a waiter that every change wakes looks again all the same: a
// safety net for an event lost in ways we do not know of.
constexpr auto kWatchedCheck = seconds(30);

// A holder on this host and boot that dies wakes us at once. Its keeper,
// once the owner is gone: watching a dead process would wake us at once,
// again and again. True when the exit of the process the lock now depends
// on is watched.
bool attempt::holder_exit_watched(const soft_view& seen) {
  if (!seen.parsed.record || seen.parsed.record->host != this_host() ||
      seen.parsed.record->boot_id != this_boot()) {
    return false;
  }
  const auto& rec = *seen.parsed.record;
  const bool owner_gone =
      rec.keeper_pid > 0 && fate_of(rec.pid, rec.start) != fate::may_live;
  const auto pid = owner_gone ? rec.keeper_pid : rec.pid;
  const auto& start = owner_gone ? rec.keeper_start : rec.start;
  watch_.watch_process(pid);
  // Opened by pid: the process watched is the recorded one only if the pid
  // still has the recorded start time now that it is open (a pid reused
  // in between would be watched instead, and never exit for us).
  return watch_.watching_process() && !start.empty() &&
         fate_of(pid, start) == fate::may_live;
}

// Sleeps until something may have changed. True when the attempt is over
// (deadline, stop) with out set.
bool attempt::wait_for_change(const soft_view& seen, acquire_result& out) {
  const auto now = steady_clock::now();
  if (r_.until && now >= *r_.until) {
    out = not_granted(
        waited_ ? acquire_status::timed_out : acquire_status::busy, seen);
    return true;
  }
  if (r_.stop.stop_requested()) {
    out = not_granted(acquire_status::cancelled, seen);
    return true;
  }
  // A semaphore's slot: slots.cpp says once what is waited for.
  if (!announced_ && seen.parsed.record && r_.slot == 0) {
    const auto& rec = *seen.parsed.record;
    tell(r_, "waiting for the soft lock on '" + r_.path.string() +
                 "', held by process " + std::to_string(rec.pid) + " on " +
                 rec.host);
    announced_ = true;
  }
  if (!watching_) {
    // Watch first, then look again: a removal between our look and the
    // watch would otherwise go unnoticed until the next poll.
    watching_ = true;
    if (!watch_.start(dir_of(r_.path), r_.path.filename().string())) {
      tell(r_, "no change notification for '" + r_.path.string() +
                   "': polling every " +
                   std::to_string(r_.options.poll_interval.count()) + " ms");
    }
    interval_ = std::max(r_.options.poll_interval, milliseconds(1));
    return false;
  }

  // Besides the interval: the deadline, and the moment the holder's lease
  // runs out (no event marks it). When both the marker's removal and the
  // holder's exit wake us, nothing else can free the lock unseen (a lease
  // is timed below): only a rare safety look then, so that a waiter, and
  // above all a semaphore's waiter with a thread per slot, sleeps instead
  // of polling.
  const bool all_seen = watch_.notifying() && holder_exit_watched(seen);
  auto timeout = all_seen ? kWatchedCheck : interval_;
  if (r_.until) {
    timeout = std::min(timeout, ceil<milliseconds>(*r_.until - now));
  }
  if (seen.parsed.record && seen.parsed.record->lifetime) {
    const auto expiry = seen.marker.mtime + *seen.parsed.record->lifetime;
    const auto left = ceil<milliseconds>(expiry - system_clock::now());
    timeout = std::min(timeout, std::max(left, milliseconds(1)));
  }
  waited_ = true;
  switch (watch_.wait(timeout, r_.stop)) {
    case platform::dir_watch::woken::stopped:
      out = not_granted(acquire_status::cancelled, seen);
      return true;
    case platform::dir_watch::woken::changed:
      interval_ = std::max(r_.options.poll_interval, milliseconds(1));
      break;
    case platform::dir_watch::woken::timeout: {
      const auto cap = std::max(r_.options.poll_interval, milliseconds(1000));
      interval_ = std::min(interval_ * 2, cap);
      break;
    }
  }
  return false;
}

acquire_result attempt::run() {
  acquire_result out;
  if (!prepare(out)) return out;
  for (;;) {
    if (publish_once(out)) return out;

    const auto seen = look_soft(r_.path);
    if (!seen.present) continue;  // released meanwhile: try again at once
    // A semaphore's record is nobody's marker: waiting for it to go would
    // wait for good, and calling it held would be a lie.
    if (!seen.parsed.record && !seen.marker.oversized &&
        parse_slots_record(seen.marker.content)) {
      return failed_result("lock", make_error_code(errc::slots_mismatch));
    }
    if (is_stale_now(seen)) {
      tell(r_, "the soft lock on '" + r_.path.string() + "' is stale (" +
                   seen.stale_reason + "): taking it over");
      switch (remove_marker(r_.path, seen, is_stale_now)) {
        case removal::removed:
        case removal::changed:
          continue;
        case removal::refused:
        case removal::claimed:
          break;  // someone else is on it, or it came back to life
      }
    }
    if (wait_for_change(seen, out)) return out;
  }
}

// What killed processes leave beside the lock at path (see break_report::
// leftovers), given the marker as it is now:
//   - a temporary file whose maker is provably gone: by the pid in its
//     name, on a local filesystem (on a network one the pid may be another
//     host's); by the owner record in it otherwise, whose owner may outlive
//     the maker (filelock acquire's shell): such a file stays until that
//     one is gone too; and one still empty a minute after it was made (a
//     live maker writes at once; one stopped that long only fails to link
//     it);
//   - a claim whose maker is provably gone (by the record in it) and whose
//     marker is gone too: a remover still at work on a marker finds it
//     changed and gives up by itself.
// Lock names of kNamePrefix bytes or more are cut in helper names and
// could match another lock's helpers: they are not swept.
constexpr auto kUnwrittenTemp = minutes(1);

bool leftover(const std::filesystem::path& file, bool is_claim,
              const std::string& token, std::int64_t maker, bool local) {
  if (!is_claim && local && maker > 0 &&
      platform::process_liveness(maker) == platform::liveness::gone) {
    return true;
  }
  platform::marker_state m;
  platform::failure why;
  if (platform::read_marker(file, m, why) != platform::read_status::ok) {
    return false;
  }
  const auto parsed = parse_record(m.content);
  if (!parsed.record) {
    return !is_claim && m.content.empty() &&
           m.mtime + kUnwrittenTemp < system_clock::now();
  }
  if (!is_claim && parsed.record->token != token) return false;
  return judge(*parsed.record, m.mtime).stale;
}

std::vector<std::filesystem::path> find_leftovers(
    const std::filesystem::path& path, const soft_view& now) {
  std::vector<std::filesystem::path> out;
  const auto name = path.filename().string();
  if (name.size() >= kNamePrefix) return out;
  const auto dot = "." + name + ".";
  const auto claim_prefix = dot + "claim-";
  const std::string current = now.present ? claim_key(now) : std::string();
  const bool local = !platform::is_network_filesystem(dir_of(path));
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_of(path), ec);
  for (; !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const auto file = it->path().filename().string();
    if (file.compare(0, dot.size(), dot) != 0) continue;
    const bool is_claim =
        file.compare(0, claim_prefix.size(), claim_prefix) == 0;
    std::string key;
    std::int64_t maker = 0;
    if (is_claim) {
      key = file.substr(claim_prefix.size());
      key = key.substr(0, key.find('.'));  // the generation's suffix
    } else if (file.size() > dot.size() + 4 &&
               file.compare(file.size() - 4, 4, ".tmp") == 0) {
      key = file.substr(dot.size(), file.size() - dot.size() - 4);
      const auto sep = key.rfind('.');
      if (sep == std::string::npos || !all_digits(key.substr(sep + 1)) ||
          key.size() - sep > 19) {
        continue;
      }
      maker = std::stoll(key.substr(sep + 1));
      key.resize(sep);
      if (!is_token(key)) continue;
    } else {
      continue;
    }
    if (key.empty() || key == current) continue;
    if (leftover(it->path(), is_claim, key, maker, local)) {
      out.push_back(it->path());
    }
  }
  return out;
}

}  // namespace

soft_view look_soft(const std::filesystem::path& path, bool probe_os) {
  soft_view v;
  platform::failure why;
  switch (platform::read_marker(path, v.marker, why)) {
    case platform::read_status::missing:
      return v;
    case platform::read_status::failed:
      throw error(why.operation, path, why.code);
    case platform::read_status::ok:
      break;
  }
  v.present = true;
  v.state = lock_state::held;
  if (v.marker.oversized) {
    v.parsed.error = "owner record larger than 64 KiB";
  } else {
    v.parsed = parse_record(v.marker.content);
  }
  verdict judged;
  if (v.parsed.record) judged = judge(*v.parsed.record, v.marker.mtime);
  if (!judged.stale) judged = made_before_boot(path, v);
  if (!judged.stale && !probe_os) return v;

  // C10: a file someone holds an OS lock on is never stale, however old.
  std::error_code ec;
  v.os_locked = platform::os_lock_held(path, v.marker.id, ec);
  if (ec) throw error("lock", path, ec);
  if (judged.stale && !v.os_locked) {
    v.state = lock_state::stale;
    v.stale_reason = std::move(judged.reason);
    const auto claim = claim_path(path, claim_key(v));
    if (platform::exists(claim, ec)) {
      v.stale_reason += "; a takeover is under way, or was interrupted (" +
                        claim.filename().string() + ")";
    }
  }
  return v;
}

lock_report soft_report(const std::filesystem::path& path,
                        const soft_view& view) {
  lock_report rep;
  rep.path = path;
  rep.kind = lock_kind::soft;
  rep.state = view.state;
  rep.stale_reason = view.stale_reason;
  if (!view.present) return rep;
  if (!view.parsed.record) {
    rep.owner_unknown = true;
    rep.record_error = view.parsed.error;
    return rep;
  }
  const auto& rec = *view.parsed.record;
  rep.record_format = rec.origin == owner_record::format::python
                          ? "python-filelock"
                          : "filelock";
  rep.mode = rec.mode;
  auto h = to_holder(rec);
  if (rec.lifetime) h.expires = view.marker.mtime + *rec.lifetime;
  rep.holders.push_back(std::move(h));
  return rep;
}

acquire_result soft_acquire(const request& r) noexcept try {
  if (r.mode == lock_mode::shared) {
    return failed_result("lock",
                         make_error_code(errc::shared_soft_unsupported));
  }
  const auto pid = r.options.owner_pid.value_or(platform::current_pid());
  if (platform::process_liveness(pid) == platform::liveness::gone) {
    return failed_result("lock",
                         std::make_error_code(std::errc::no_such_process));
  }
  if (r.path.filename().empty() || r.path.filename() == "." ||
      r.path.filename() == "..") {
    return failed_result("lock",
                         std::make_error_code(std::errc::is_a_directory));
  }
  acquire_result joined;
  if (!r.options.owner_pid && r.slot == 0 && join_held(r, joined)) {
    return joined;
  }

  auto rec = new_record(r, pid);
  if (rec.token.empty()) {
    return failed_result("lock", std::make_error_code(std::errc::io_error));
  }
  attempt a(r, std::move(rec));
  return a.run();
} catch (const error& e) {
  return failed_result(e.operation(), e.code());
} catch (const std::bad_alloc&) {
  return failed_result("lock",
                       std::make_error_code(std::errc::not_enough_memory));
}

break_report break_stale(const std::filesystem::path& path,
                         const break_options& options) {
  break_report out;
  // A soft semaphore's name: its slots' markers are what may be stale.
  // Returned as `out`, as every other outcome is: the sweep below writes
  // into the returned object itself.
  if (auto slots = break_soft_slots(path, options)) {
    out = std::move(*slots);
    return out;
  }
  if (options.kind == lock_kind::os) {
    out.before = inspect(path, lock_kind::os);
    if (out.before.state == lock_state::held) {
      out.outcome = break_outcome::refused_live;
    }
    return out;
  }
  // Swept after the marker has been dealt with, so that a claim of the
  // marker just removed goes too.
  struct sweep {
    const std::filesystem::path& path;
    const break_options& options;
    break_report& out;
    ~sweep() {
      try {
        out.leftovers = find_leftovers(path, look_soft(path));
        if (options.dry_run) return;
        std::erase_if(out.leftovers, [](const std::filesystem::path& p) {
          std::error_code ec;
          return !platform::remove_file(p, ec);
        });
      } catch (...) {
        // Leftovers block nothing: a failure here must not hide the
        // outcome of the break itself.
      }
    }
  } at_end{path, options, out};
  for (int round = 0;; ++round) {
    const auto view = look_soft(path, true);
    out.before = inspect(path, options.kind);
    if (!view.present || out.before.kind == lock_kind::os) {
      // Free, or an OS lock (idle or held): nothing a soft break may touch.
      out.outcome = out.before.state == lock_state::held
                        ? break_outcome::refused_live
                        : break_outcome::nothing_to_do;
      return out;
    }
    const bool removable =
        view.state == lock_state::stale || (options.force && !view.os_locked);
    if (!removable) {
      out.outcome = view.owner_unknown() ? break_outcome::refused_unknown
                                         : break_outcome::refused_live;
      return out;
    }
    if (options.dry_run) {
      out.outcome = break_outcome::would_remove;
      return out;
    }
    switch (remove_marker(path, view,
                          options.force ? not_os_locked : is_stale_now)) {
      case removal::removed:
        out.outcome = break_outcome::removed;
        return out;
      case removal::changed:
        out.outcome = break_outcome::lost_race;
        return out;
      case removal::refused:
        out.outcome = break_outcome::refused_live;
        return out;
      case removal::claimed:
        break;
    }
    if (!options.force || round > 0) {
      out.outcome = break_outcome::lost_race;
      out.before.stale_reason +=
          "; another process is removing it, or was killed while removing "
          "it (a forced break clears that)";
      return out;
    }
    // Forced: clear whatever claims are there, once, and try again.
    for (int g = kClaimGenerations - 1; g >= 0; --g) {
      const auto c = claim_path(path, claim_key(view), g);
      std::error_code ec;
      platform::remove_file(c, ec);
      if (ec) throw error("remove", c, ec);
    }
  }
}

release_report release_soft(const std::filesystem::path& path,
                            const release_options& options) {
  release_report out;
  const auto view = look_soft(path, true);
  if (!view.present) return out;
  if (view.os_locked) {
    out.outcome = release_outcome::os_locked;
    return out;
  }
  out.owner_unknown = view.owner_unknown();
  bool mine = false;
  if (view.parsed.record) {
    const auto& rec = *view.parsed.record;
    out.owner = to_holder(rec);
    mine = !options.token.empty() && options.token == rec.token;
    if (!mine && options.owner_pid && *options.owner_pid == rec.pid &&
        rec.host == this_host()) {
      // The same pid is the same process only with the same start time.
      mine = rec.start.empty() || platform::process_start(rec.pid) == rec.start;
    }
  }
  if (!mine && !options.force) {
    out.outcome = release_outcome::not_owner;
    return out;
  }
  switch (remove_marker(path, view, not_os_locked)) {
    case removal::removed:
      out.outcome = release_outcome::released;
      break;
    case removal::refused:
      out.outcome = release_outcome::os_locked;
      break;
    case removal::changed:
    case removal::claimed:
      // Someone else released or broke it first.
      out.outcome = release_outcome::not_held;
      break;
  }
  return out;
}

}  // namespace filelock::detail

namespace filelock {

break_report break_stale(const std::filesystem::path& path,
                         const break_options& options) {
  return detail::break_stale(path, options);
}

release_report release_soft(const std::filesystem::path& path,
                            const release_options& options) {
  return detail::release_soft(path, options);
}

}  // namespace filelock
