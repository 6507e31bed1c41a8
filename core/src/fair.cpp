// Fair queueing: the OS lock granted in arrival order (lock_options::fair).
//
// Why tickets in a directory rather than a counter file: a counter needs a
// lock of its own to be taken and given back by every waiter, and a waiter
// killed between its two steps would leave it wrong forever. A ticket is a
// file that exists for as long as its owner waits or holds the lock, and
// its OS lock says whether that owner is alive: the kernel drops the lock
// of a process that dies, however it dies, so a dead waiter leaves the
// queue without anyone's help, as a dead holder leaves an OS lock.
//
// Publishing: the ticket is written to a temporary file and locked before
// it is hard-linked to its number. A ticket is therefore never visible
// unlocked while its owner lives, and nobody can take a newborn ticket for
// a dead one. The number is one more than the highest in the directory;
// link(2) refusing an existing name makes two newcomers that read the same
// highest number take different ones.
//
// Waiting: each waiter blocks in the kernel (platform::lock_file, so that
// a deadline and a stop request end it) on the lock of the nearest older
// ticket. When that is granted, its owner is gone: it released the lock,
// or it died. Then the waiter looks again for an older ticket, and when
// none is left it takes the OS lock on the name itself. A release thus
// wakes exactly one waiter, its successor; there is no thundering herd and
// no polling.
//
// Removing tickets: a ticket's name is removed only by someone holding
// its lock, and only while the name still leads to the file locked: the
// owner removes its own before unlocking it, and a successor granted a
// dead waiter's lock removes what the dead one left. Since a name is
// never removed by anyone else meanwhile, and link(2) cannot put a new
// file where a name still exists, a live ticket is never removed by
// mistake.
#include "fair.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "holding.hpp"
#include "platform.hpp"
#include "record.hpp"

namespace filelock::detail {
namespace {

using platform::file_handle;
using platform::file_id;
using platform::wait_status;

constexpr std::size_t kTicketDigits = 20;

// Who of this process is queued for or holds which lock (by the lock
// file's id): an owner asking again would wait behind its own ticket.
class queued_owners {
 public:
  // Never destroyed, as os_lock.cpp's table: guards in static objects may
  // be released during exit.
  static queued_owners& instance() {
    static auto* q = new queued_owners;
    return *q;
  }

  bool add(const file_id& id, owner_id owner) {
    std::lock_guard lk(mutex_);
    return owners_.insert({id, owner}).second;
  }

  void remove(const file_id& id, owner_id owner) noexcept {
    std::lock_guard lk(mutex_);
    owners_.erase({id, owner});
  }

 private:
  std::mutex mutex_;
  std::set<std::pair<file_id, owner_id>> owners_;
};

std::string ticket_name(std::uint64_t number) {
  auto digits = std::to_string(number);
  return std::string(kTicketDigits - std::min(kTicketDigits, digits.size()),
                     '0') +
         digits;
}

std::optional<std::uint64_t> ticket_number(const std::string& name) {
  if (name.size() != kTicketDigits || !all_digits(name)) return std::nullopt;
  std::uint64_t n = 0;
  const auto [end, err] =
      std::from_chars(name.data(), name.data() + name.size(), n);
  if (err != std::errc() || end != name.data() + name.size())
    return std::nullopt;
  return n;
}

struct ticket_ref {
  std::uint64_t number = 0;
  std::filesystem::path path;
};

// The tickets in the queue directory, oldest first. A missing directory
// is an empty queue.
std::vector<ticket_ref> list_tickets(const std::filesystem::path& dir,
                                     std::error_code& ec) {
  std::vector<ticket_ref> out;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) ec.clear();
    return out;
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (auto n = ticket_number(it->path().filename().string())) {
      out.push_back({*n, it->path()});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ticket_ref& a, const ticket_ref& b) {
              return a.number < b.number;
            });
  return out;
}

// The queue directory, made when missing. A symlink there is refused: one
// planted in /tmp would send our tickets elsewhere.
bool make_queue_dir(const std::filesystem::path& dir,
                    const lock_options& options, platform::failure& why) {
  std::error_code ec;
  const bool made = std::filesystem::create_directory(dir, ec);
  // Something else already there (a file, a FIFO) is said below.
  if (ec == std::errc::file_exists) ec.clear();
  if (made && options.file_mode) {
    // Whoever may read and write the lock file may queue for it: a
    // directory needs search permission besides.
    using std::filesystem::perms;
    auto p = *options.file_mode;
    if ((p & perms::owner_read) != perms::none) p |= perms::owner_exec;
    if ((p & perms::group_read) != perms::none) p |= perms::group_exec;
    if ((p & perms::others_read) != perms::none) p |= perms::others_exec;
    std::filesystem::permissions(dir, p, ec);
    if (ec) {
      why = {"set the mode of", ec};
      return false;
    }
  }
  if (ec) {
    why = {"create", ec};
    return false;
  }
  const auto st = std::filesystem::symlink_status(dir, ec);
  if (ec) {
    why = {"stat", ec};
    return false;
  }
  if (std::filesystem::is_symlink(st) || !std::filesystem::is_directory(st)) {
    why = {"open", make_error_code(errc::fair_queue_not_a_directory)};
    return false;
  }
  return true;
}

struct ticket {
  file_handle handle;
  file_id id;
  std::filesystem::path path;
  std::uint64_t number = 0;
};

// Removes our own ticket (we hold its lock), then lets go of the lock.
void drop(ticket& t) noexcept {
  if (!t.handle.valid()) return;
  std::error_code ec;
  if (platform::path_names(t.path, t.id, ec)) platform::remove_file(t.path, ec);
  platform::unlock_file(t.handle, ec);
  t.handle.close();
}

std::string ticket_record(const request& r) {
  owner_record rec;
  rec.pid = platform::current_pid();
  rec.start = platform::process_start(rec.pid);
  rec.boot_id = platform::boot_id();
  rec.host = platform::host_name();
  rec.since = std::chrono::system_clock::now();
  rec.token = platform::new_token();
  rec.mode = lock_mode::exclusive;
  rec.command = r.options.command;
  return to_json(rec);
}

// Publishes a locked ticket numbered after every ticket there.
bool take_ticket(const std::filesystem::path& dir, const request& r, ticket& t,
                 platform::failure& why) {
  const auto temp = dir / (".tmp-" + platform::new_token());
  t.handle = platform::write_new_file(temp, ticket_record(r),
                                      r.options.file_mode, false, why);
  if (!t.handle.valid()) return false;
  std::error_code ec;
  const deadline now_only = steady_clock::time_point::min();
  // A fresh file nobody else knows: the lock is ours at once.
  const bool ok = platform::identify(t.handle, t.id, ec) &&
                  platform::lock_file(t.handle, lock_mode::exclusive, now_only,
                                      {}, ec) == wait_status::acquired;
  if (!ok) {
    why = {"lock",
           ec ? ec : std::make_error_code(std::errc::device_or_resource_busy)};
    platform::remove_file(temp, ec);
    return false;
  }

  // Bounded: each lost race means another waiter took that number, and a
  // fresh look at the directory finds a higher one.
  bool published = false;
  for (int round = 0; round < 64; ++round) {
    auto tickets = list_tickets(dir, ec);
    if (ec) break;
    t.number = tickets.empty() ? 1 : tickets.back().number + 1;
    t.path = dir / ticket_name(t.number);
    const auto s = platform::publish(t.handle, temp, t.path, ec);
    if (s != platform::publish_status::exists) {
      published = s == platform::publish_status::linked;
      break;
    }
  }
  std::error_code ignored;
  platform::remove_file(temp, ignored);
  if (!published) {
    why = {"create",
           ec ? ec : std::make_error_code(std::errc::device_or_resource_busy)};
    t.handle.close();
    return false;
  }
  return true;
}

class fair_holding final : public holding {
 public:
  fair_holding(guard inner, ticket t, file_id lock_id, owner_id owner)
      : inner_(std::move(inner)),
        ticket_(std::move(t)),
        lock_id_(lock_id),
        owner_(owner),
        pid_(platform::current_pid()) {}

  lock_mode mode() const noexcept override { return inner_.mode(); }
  const std::filesystem::path& path() const noexcept override {
    return inner_.path();
  }
  int native_handle() const noexcept override { return inner_.native_handle(); }
  lock_kind kind() const noexcept override { return inner_.kind(); }
  bool is_intact(std::error_code& ec) const noexcept override {
    return inner_.is_intact(ec);
  }

  void release(std::error_code& ec) noexcept override {
    leave_queue();
    inner_.release(ec);
  }
  void release_to_inheritors(std::error_code& ec) noexcept override {
    leave_queue();
    inner_.release_to_inheritors(ec);
  }

 private:
  // The ticket goes first: the successor then waits in the kernel for the
  // lock itself, and is granted it the moment we unlock.
  void leave_queue() noexcept {
    if (pid_ != platform::current_pid()) {
      // After fork() the ticket's description is the parent's too.
      ticket_.handle.close();
      return;
    }
    drop(ticket_);
    queued_owners::instance().remove(lock_id_, owner_);
  }

  guard inner_;
  ticket ticket_;
  file_id lock_id_;
  owner_id owner_;
  std::int64_t pid_;
};

std::optional<holder_info> ticket_owner(const std::filesystem::path& path) {
  platform::marker_state m;
  platform::failure why;
  if (platform::read_marker(path, m, why) != platform::read_status::ok) {
    return std::nullopt;
  }
  auto parsed = parse_record(m.content);
  if (!parsed.record) return std::nullopt;
  return to_holder(*parsed.record);
}

// Busy or timed out: the lock's holder if the kernel names one, else the
// waiter we were queued behind.
acquire_result not_granted(wait_status s, const request& r,
                           const std::filesystem::path& ahead) {
  acquire_result out;
  out.status = s == wait_status::busy        ? acquire_status::busy
               : s == wait_status::timed_out ? acquire_status::timed_out
                                             : acquire_status::cancelled;
  if (out.status == acquire_status::cancelled) return out;
  auto holders = os_holders(r.path);
  if (!holders.empty()) {
    out.holder = std::move(holders.front());
  } else {
    out.holder = ticket_owner(ahead);
  }
  return out;
}

// Waits until no ticket older than ours is live. Returns a result when
// the wait ended otherwise, or nothing.
std::optional<acquire_result> wait_for_turn(const request& r, const ticket& t) {
  bool told = false;
  // Each round moves below the ticket it settled, so that one we cannot
  // remove (a dead waiter's, in a directory we may not write) is passed
  // once, not met again and again.
  std::uint64_t below = t.number;
  for (;;) {
    std::error_code ec;
    const auto tickets = list_tickets(t.path.parent_path(), ec);
    if (ec) return failed_result("read", ec);
    auto older =
        std::find_if(tickets.rbegin(), tickets.rend(),
                     [&](const ticket_ref& x) { return x.number < below; });
    if (older == tickets.rend()) return std::nullopt;
    below = older->number;

    file_id id;
    platform::failure why;
    auto h = platform::open_existing_lock_file(older->path, id, why);
    if (!h.valid()) {
      if (why.code) return failed_result(why.operation, why.code);
      continue;  // released meanwhile: look further
    }
    if (!told) {
      told = true;
      tell(r, "waiting in the fair queue of '" + r.path.string() +
                  "' behind ticket " + std::to_string(older->number));
    }
    const auto s =
        platform::lock_file(h, lock_mode::exclusive, r.until, r.stop, ec);
    if (s == wait_status::failed) return failed_result("lock", ec);
    if (s != wait_status::acquired) return not_granted(s, r, older->path);

    // Its owner is gone. If the name still leads to it, the owner died
    // without removing it: we hold its lock, so the removal is ours.
    if (platform::path_names(older->path, id, ec)) {
      platform::remove_file(older->path, ec);
    }
    platform::unlock_file(h, ec);
  }
}

}  // namespace

std::filesystem::path queue_dir(const std::filesystem::path& name) {
  auto p = name;
  p += ".fair";
  return p;
}

acquire_result fair_acquire(const request& r) noexcept try {
  if (r.mode != lock_mode::exclusive || r.options.kind == lock_kind::soft ||
      r.options.slots) {
    return failed_result("lock", make_error_code(errc::fair_unsupported));
  }

  // The lock file's identity keys the owners queued in this process.
  platform::failure why;
  file_id lock_id;
  {
    const platform::open_rules rules{r.options.follow_symlink,
                                     r.options.allow_directory};
    auto h = platform::open_lock_file(r.path, r.mode, r.options.file_mode, why,
                                      rules, &lock_id);
    if (!h.valid()) return failed_result(why.operation, why.code);
  }
  auto& owners = queued_owners::instance();
  if (!owners.add(lock_id, r.owner)) {
    return failed_result("lock", make_error_code(errc::would_deadlock));
  }
  struct unqueue {
    queued_owners& q;
    file_id id;
    owner_id owner;
    bool keep = false;
    ~unqueue() {
      if (!keep) q.remove(id, owner);
    }
  } registered{owners, lock_id, r.owner};

  const auto dir = queue_dir(r.path);
  if (!make_queue_dir(dir, r.options, why)) {
    return failed_result(why.operation, why.code);
  }
  ticket t;
  if (!take_ticket(dir, r, t, why)) {
    return failed_result(why.operation, why.code);
  }
  if (auto ended = wait_for_turn(r, t)) {
    drop(t);
    return std::move(*ended);
  }

  // First in line: the lock itself, which a plain locker may hold.
  lock_options plain = r.options;
  plain.fair = false;
  auto inner = os_acquire({r.path, r.mode, r.until, r.stop, plain, r.owner});
  if (!inner.acquired()) {
    drop(t);
    return inner;
  }
  registered.keep = true;
  acquire_result out;
  out.status = acquire_status::acquired;
  out.lock = guard(std::make_shared<fair_holding>(
      std::move(inner.lock), std::move(t), lock_id, r.owner));
  return out;
} catch (const std::bad_alloc&) {
  return failed_result("lock",
                       std::make_error_code(std::errc::not_enough_memory));
} catch (const std::system_error& e) {
  return failed_result("lock", e.code());
}

std::vector<queue_entry> fair_queue(const std::filesystem::path& name) {
  std::vector<queue_entry> out;
  std::error_code ec;
  const auto tickets = list_tickets(queue_dir(name), ec);
  const deadline now_only = steady_clock::time_point::min();
  for (const auto& t : tickets) {
    // Live when its lock is held: a probe, released at once. A dead
    // waiter's ticket is skipped, and left for its successor to remove.
    file_id id;
    platform::failure why;
    auto h = platform::open_existing_lock_file(t.path, id, why);
    if (!h.valid()) continue;
    const auto s =
        platform::lock_file(h, lock_mode::exclusive, now_only, {}, ec);
    if (s == wait_status::acquired) {
      platform::unlock_file(h, ec);
      continue;
    }
    if (s != wait_status::busy) continue;
    queue_entry e;
    e.ticket = t.number;
    if (auto who = ticket_owner(t.path)) e.waiter = std::move(*who);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace filelock::detail
