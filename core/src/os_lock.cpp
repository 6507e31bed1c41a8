// The OS lock (flock on POSIX, LockFileEx on Windows) and the process-wide
// table of the OS locks this process holds.
//
// Why a table: the kernel's lock belongs to an open file description, and
// two descriptions of one file in one process exclude each other. Without
// the table a thread re-acquiring a lock it holds would deadlock on itself,
// and with the wrong kind of table (one description shared by every thread)
// two threads would both "hold" an exclusive lock (fasteners#93). So:
//   - one entry per file (device + inode) whose OS lock this process holds,
//     carrying the description that holds it and a count per owner;
//   - an owner asking again counts up; a shared request joins an entry held
//     shared; anything else opens its own description and waits in the
//     kernel like any other process would, so threads of one process are
//     excluded from each other by the same mechanism as processes are;
//   - the entry leaves the table before the kernel lock is dropped, so a
//     thread granted the lock next never finds a dying entry.
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "backend.hpp"
#include "holding.hpp"
#include "platform.hpp"
#include "record.hpp"
#include "slots.hpp"

namespace filelock::detail {
namespace {

using platform::file_id;

struct held_file {
  file_id id;
  platform::file_handle handle;
  lock_mode os_mode = lock_mode::exclusive;
  // The process that took the lock; after fork() the child sees the same
  // entry but must never unlock the parent's description.
  std::int64_t pid = 0;
  std::map<owner_id, unsigned> counts;
};

class table {
 public:
  // Never destroyed: guards in static objects may be released during exit,
  // after a function-local static would already be gone.
  static table& instance() {
    static table* t = new table;
    return *t;
  }

  using map = std::map<file_id, std::shared_ptr<held_file>>;
  using node_type = map::node_type;

  std::mutex mutex;
  map files;
};

class os_holding final : public holding {
 public:
  os_holding(std::shared_ptr<held_file> file, owner_id owner, lock_mode mode,
             std::filesystem::path path, bool follow_symlink)
      : file_(std::move(file)),
        owner_(owner),
        mode_(mode),
        path_(std::move(path)),
        follow_symlink_(follow_symlink) {}

  lock_mode mode() const noexcept override { return mode_; }
  const std::filesystem::path& path() const noexcept override { return path_; }
  int native_handle() const noexcept override {
    return static_cast<int>(file_->handle.get());
  }

  bool is_intact(std::error_code& ec) const noexcept override {
    return platform::path_names(path_, file_->id, ec, follow_symlink_);
  }

  void release(std::error_code& ec) noexcept override { finish(ec, true); }

  void release_to_inheritors(std::error_code& ec) noexcept override {
    finish(ec, false);
  }

 private:
  void finish(std::error_code& ec, bool unlock) noexcept {
    auto& t = table::instance();
    platform::file_handle last;
    // Freed after the unlock, like the entry itself (the caller drops the
    // last reference): others wait while we hold the lock.
    table::node_type entry;
    {
      std::lock_guard lk(t.mutex);
      if (file_->pid != platform::current_pid()) {
        // Unlocking here would unlock the parent: the description is
        // shared across fork. Closing our copy of the descriptor is safe.
        file_->handle.close();
        ec = make_error_code(errc::inherited_across_fork);
        return;
      }
      auto& counts = file_->counts;
      auto c = counts.find(owner_);
      const bool only_one =
          c != counts.end() && c->second == 1 && counts.size() == 1;
      if (!only_one) {
        if (c != counts.end() && --c->second == 0) counts.erase(c);
        if (!counts.empty()) return;
      }
      // The last count leaves with the entry: nothing reaches a held_file
      // once it is out of the table but its holdings, and this was the last.
      entry = t.files.extract(file_->id);
      last = std::move(file_->handle);
    }
    // Unlock explicitly before closing: a child that inherited the
    // descriptor shares the description, and close alone would leave the
    // lock with it (which is what release_to_inheritors wants).
    if (unlock) platform::unlock_file(last, ec);
  }

  std::shared_ptr<held_file> file_;
  owner_id owner_;
  lock_mode mode_;
  std::filesystem::path path_;
  bool follow_symlink_;
};

acquire_result granted(std::shared_ptr<held_file> f, const request& r) {
  acquire_result out;
  out.status = acquire_status::acquired;
  out.lock = guard(std::make_shared<os_holding>(
      std::move(f), r.owner, r.mode, r.path, r.options.follow_symlink));
  return out;
}

// Joins an entry this process already holds, when the request can be
// served without the kernel. Returns true with `out` filled when it could.
bool join_held(table& t, const file_id& id, const request& r,
               acquire_result& out) {
  auto it = t.files.find(id);
  if (it == t.files.end()) return false;
  auto& f = *it->second;
  if (f.pid != platform::current_pid()) {
    // Inherited from the parent across fork(): not ours to join. Forget it
    // in this process (closing only our copy of the descriptor).
    t.files.erase(it);
    return false;
  }
  const bool mine = f.counts.count(r.owner) != 0;
  if (mine && r.mode == lock_mode::exclusive &&
      f.os_mode == lock_mode::shared) {
    out = failed_result("lock", make_error_code(errc::would_deadlock));
    return true;
  }
  if (mine || (r.mode == lock_mode::shared && f.os_mode == lock_mode::shared)) {
    ++f.counts[r.owner];
    out = granted(it->second, r);
    return true;
  }
  return false;
}

std::string quoted(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

// Whether the file at the lock's path is a soft lock's marker: it holds
// our owner record. Then the OS lock on it means nothing to the soft
// locker who made it, and the path is a soft lock whatever kind was asked
// for, so that `filelock acquire L` (soft) and `filelock run L` exclude
// each other. Only our own record counts: "PID\nHOST" lines are also what
// other tools write into their own OS lock files. Never for the flock(1)
// personality (follow_symlink, allow_directory), which locks any file as
// util-linux does. Only a file with content is read, which an OS lock
// file, never written to, is not. `changed`: the path no longer names the
// file we locked (a soft owner released it meanwhile): start over, or we
// would hold a lock on a file nobody else can find.
// A semaphore's record (slots.cpp) is neither: a lock without slots there
// would exclude none of the slots' holders.
enum class content { plain, soft_marker, semaphore, changed };

content judge_content(const request& r, const file_id& id) {
  if (r.options.follow_symlink || r.options.allow_directory) {
    return content::plain;
  }
  platform::marker_state m;
  platform::failure why;
  switch (platform::read_marker(r.path, m, why)) {
    case platform::read_status::missing:
      return content::changed;
    case platform::read_status::failed:
      return content::plain;  // unreadable: not a marker we could honour
    case platform::read_status::ok:
      break;
  }
  if (m.id != id) return content::changed;
  if (m.oversized) return content::plain;
  if (parse_slots_record(m.content)) return content::semaphore;
  const auto parsed = parse_record(m.content);
  return parsed.record &&
                 parsed.record->origin == owner_record::format::filelock
             ? content::soft_marker
             : content::plain;
}

acquire_result not_granted(platform::wait_status s, const file_id& id) {
  acquire_result r;
  r.status = s == platform::wait_status::busy ? acquire_status::busy
             : s == platform::wait_status::timed_out
                 ? acquire_status::timed_out
                 : acquire_status::cancelled;
  if (r.status != acquire_status::cancelled) {
    auto holders = platform::os_lock_holders(id);
    if (!holders.empty()) r.holder = std::move(holders.front());
  }
  return r;
}

}  // namespace

acquire_result os_acquire(const request& r) noexcept try {
  auto& t = table::instance();
  for (;;) {
    platform::failure why;
    const platform::open_rules rules{r.options.follow_symlink,
                                     r.options.allow_directory};
    file_id id;
    std::uint64_t size = 0;
    auto h = platform::open_lock_file(r.path, r.mode, r.options.file_mode, why,
                                      rules, &id, &size);
    if (!h.valid()) return failed_result(why.operation, why.code);
    std::error_code ec;

    {
      std::lock_guard lk(t.mutex);
      acquire_result joined;
      if (join_held(t, id, r, joined)) return joined;
    }

    // The table entry, the holding and the map node are made before the
    // wait: from the grant until the caller's release every other waiter
    // waits, so that stretch does no allocation (and a bad_alloc comes
    // before the lock, not with it held). Nothing here is visible to
    // others until the node is inserted.
    auto f = std::make_shared<held_file>();
    f->id = id;
    f->handle = std::move(h);
    f->os_mode = r.mode;
    f->pid = platform::current_pid();
    f->counts[r.owner] = 1;
    auto holding = std::make_shared<os_holding>(f, r.owner, r.mode, r.path,
                                                r.options.follow_symlink);
    table::node_type node;
    {
      table::map staging;
      node = staging.extract(staging.emplace(id, f).first);
    }
    const auto& fh = f->handle;

    // With a diagnostic wanted, one attempt first: only a real wait is
    // worth a line. Without, the wait alone: a system call less when the
    // lock is busy, which under contention is most of the time.
    platform::wait_status s;
    if (r.options.on_diagnostic) {
      const deadline now_only = steady_clock::time_point::min();
      s = platform::lock_file(fh, r.mode, now_only, r.stop, ec);
      if (s == platform::wait_status::busy &&
          !(r.until && *r.until <= steady_clock::now())) {
        tell(r, "waiting for " + std::string(to_string(r.mode)) + " lock on " +
                    quoted(r.path));
        s = platform::lock_file(fh, r.mode, r.until, r.stop, ec);
      }
    } else {
      s = platform::lock_file(fh, r.mode, r.until, r.stop, ec);
    }
    if (s == platform::wait_status::failed) return failed_result("lock", ec);
    if (s != platform::wait_status::acquired) return not_granted(s, id);

    // While we waited, the file may have been unlinked (by a tool that
    // cleans up lock files on release) or replaced. Our lock would then be
    // on an inode nobody else can find, and a newcomer would lock the new
    // file alongside us (hermit#423, tox-dev/filelock#574): start over.
    if (!platform::path_names(r.path, id, ec, r.options.follow_symlink)) {
      if (ec) return failed_result("stat", ec);
      tell(r, quoted(r.path) +
                  " was removed or replaced while we waited; locking the "
                  "file it names now");
      continue;
    }
    switch (size > 0 ? judge_content(r, id) : content::plain) {
      case content::plain:
        break;
      case content::changed:
        continue;
      case content::semaphore: {
        std::error_code ignored;
        platform::unlock_file(f->handle, ignored);
        return failed_result("lock", make_error_code(errc::slots_mismatch));
      }
      case content::soft_marker: {
        // Our lock on it excludes no soft locker, who never takes one.
        tell(r, quoted(r.path) +
                    " holds a soft lock's owner record: taking it as a soft "
                    "lock");
        std::error_code ignored;
        platform::unlock_file(f->handle, ignored);
        return soft_acquire(r);
      }
    }

    std::lock_guard lk(t.mutex);
    acquire_result joined;
    // Two threads granted shared locks on their own descriptions at the
    // same time: the second joins the first, and closing its own
    // description drops only its own, redundant, shared lock.
    if (join_held(t, id, r, joined)) return joined;
    t.files.insert(std::move(node));
    acquire_result out;
    out.status = acquire_status::acquired;
    out.lock = guard(std::move(holding));
    return out;
  }
} catch (const std::bad_alloc&) {
  return failed_result("lock",
                       std::make_error_code(std::errc::not_enough_memory));
}

std::vector<holder_info> os_holders(const std::filesystem::path& path) {
  platform::failure why;
  // Opening creates a missing file; a status query must not, so look first.
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
    return {};
  }
  auto h = platform::open_lock_file(path, lock_mode::shared, std::nullopt, why);
  file_id id;
  if (!h.valid() || !platform::identify(h, id, ec)) return {};
  return platform::os_lock_holders(id);
}

}  // namespace filelock::detail
