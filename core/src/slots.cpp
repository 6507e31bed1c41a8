// Semaphores: at most N holders of one name (lock_options::slots).
//
// Why one file per slot rather than N byte ranges of one file: flock(2),
// the lock every other form of ours and util-linux flock(1) use, has no
// ranges, and fcntl() range locks belong to the process, not the open file
// description, so two threads of one process would share a slot and any
// close() of the file would drop them all (the POSIX record-lock trap).
// With a file per slot each slot is an ordinary OS lock: the kernel drops
// it when its holder dies, and status reads its holder from /proc/locks
// like any other lock.
//
// The name's own file records N, published once with link(2) from a
// complete temporary file, so a reader sees the whole record or no file;
// it is never rewritten, which is what makes "one name, one N" checkable
// without a lock of its own.
//
// Waiting: there is no system call that waits for any one of several
// flocks. A waiter therefore runs one thread per slot, each blocked in the
// kernel on its own slot file (platform::lock_file: flock on POSIX,
// overlapped LockFileEx on Windows), all ending on one stop source. The
// first thread granted a slot keeps it and stops the others; a thread
// granted a slot after that unlocks it again at once. Nothing polls: each
// thread sleeps in the kernel until its slot is released or the wait ends.
//
// Soft semaphores (lock_kind::soft): each slot is a plain soft lock whose
// marker is the slot's file, taken with soft_acquire, so a dead holder's
// slot is taken over by the stale-marker rules of soft_lock.cpp and by no
// second protocol. The record then says "kind":"soft", because the slot
// files of the two forms cannot be told apart before someone holds them:
// an OS locker would take a slot whose marker a soft holder made (an flock
// on it excludes nobody), and a soft locker would see every idle OS slot
// file as a marker held by an unknown owner. So the record decides, as a
// soft owner record decides for a plain lock: an OS (or automatic)
// request on a soft semaphore takes a soft slot, and a soft request on an
// OS semaphore is errc::slots_mismatch. A soft waiter races the slots as
// the OS one does, one thread per slot, each in soft_acquire's own wait
// (a directory watch that wakes on the marker's removal and on its
// holder's exit).
#include "slots.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "etcd/backend_etcd.hpp"
#include "holding.hpp"
#include "platform.hpp"
#include "soft_lock.hpp"

namespace filelock::detail {
namespace {

using platform::file_handle;
using platform::file_id;
using platform::wait_status;

class slot_holding final : public holding {
 public:
  slot_holding(file_handle h, file_id id, std::filesystem::path name,
               std::filesystem::path file, unsigned number)
      : handle_(std::move(h)),
        id_(id),
        name_(std::move(name)),
        file_(std::move(file)),
        number_(number),
        pid_(platform::current_pid()) {}

  lock_mode mode() const noexcept override { return lock_mode::exclusive; }
  const std::filesystem::path& path() const noexcept override { return name_; }
  int native_handle() const noexcept override {
    return static_cast<int>(handle_.get());
  }
  unsigned slot() const noexcept override { return number_; }

  bool is_intact(std::error_code& ec) const noexcept override {
    return platform::path_names(file_, id_, ec);
  }

  void release(std::error_code& ec) noexcept override { finish(ec, true); }
  void release_to_inheritors(std::error_code& ec) noexcept override {
    finish(ec, false);
  }

 private:
  void finish(std::error_code& ec, bool unlock) noexcept {
    // After fork() the description is the parent's too: unlocking it here
    // would free the parent's slot.
    if (pid_ != platform::current_pid()) {
      handle_.close();
      ec = make_error_code(errc::inherited_across_fork);
      return;
    }
    if (unlock) platform::unlock_file(handle_, ec);
    handle_.close();
  }

  file_handle handle_;
  file_id id_;
  std::filesystem::path name_;
  std::filesystem::path file_;
  unsigned number_;
  std::int64_t pid_;
};

std::string record_text(unsigned slots, lock_kind kind) {
  // The OS form keeps the record it always had.
  const std::string soft = kind == lock_kind::soft ? ",\"kind\":\"soft\"" : "";
  return "{\"filelock\":1,\"slots\":" + std::to_string(slots) + soft + "}\n";
}

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// Makes sure the name records `slots`: publishes the record when there is
// none, and otherwise checks the one there. kind is the kind asked for (os
// or soft) and becomes the recorded one (see the top of this file).
// Returns a failure, or nothing.
std::optional<acquire_result> settle_record(const std::filesystem::path& name,
                                            unsigned slots, lock_kind& kind,
                                            const lock_options& options) {
  // Bounded: each round either reads a record or publishes one; losing the
  // publish race to another first acquirer means the next read finds it.
  for (int round = 0; round < 16; ++round) {
    platform::marker_state seen;
    platform::failure why;
    switch (platform::read_marker(name, seen, why)) {
      case platform::read_status::failed:
        return failed_result(why.operation, why.code);
      case platform::read_status::ok: {
        const auto recorded = parse_slots_record(seen.content);
        if (recorded && recorded->count == slots &&
            (recorded->kind == lock_kind::soft || kind == lock_kind::os)) {
          kind = recorded->kind;
          return std::nullopt;
        }
        return failed_result("lock", make_error_code(errc::slots_mismatch));
      }
      case platform::read_status::missing:
        break;
    }

    const auto temp = dir_of(name) / ("." + name.filename().string() + "." +
                                      platform::new_token() + ".tmp");
    // Flushed before it is published: a crash must not leave an empty
    // record, which would read as "not a semaphore" until removed by hand.
    auto h = platform::write_new_file(temp, record_text(slots, kind),
                                      options.file_mode, true, why);
    if (!h.valid()) return failed_result(why.operation, why.code);
    std::error_code ec;
    const auto published = platform::publish(h, temp, name, ec);
    std::error_code ignored;
    platform::remove_file(temp, ignored);
    if (published == platform::publish_status::failed) {
      return failed_result("create", ec);
    }
    if (published == platform::publish_status::linked) return std::nullopt;
  }
  return failed_result(
      "create", std::make_error_code(std::errc::device_or_resource_busy));
}

struct opened_slot {
  file_handle handle;
  file_id id;
  std::filesystem::path path;
};

acquire_result granted(opened_slot& s, const request& r, unsigned number) {
  acquire_result out;
  out.status = acquire_status::acquired;
  out.lock = guard(std::make_shared<slot_holding>(std::move(s.handle), s.id,
                                                  r.path, s.path, number));
  return out;
}

// The holder of the first held slot the kernel names, for busy messages.
std::optional<holder_info> some_holder(const std::vector<opened_slot>& slots) {
  for (const auto& s : slots) {
    auto holders = platform::os_lock_holders(s.id);
    if (!holders.empty()) return std::move(holders.front());
  }
  return std::nullopt;
}

struct wait_outcome {
  wait_status status = wait_status::failed;
  int winner = -1;
  std::string operation = "lock";
  std::error_code ec;
};

// Blocks on every slot at once (see the top of this file): try_slot(i,
// quit, operation, ec) waits for slot i until it is granted, the deadline
// passes or quit fires; give_back(i) returns slot i when another slot won
// first. A thread that cannot be started ends the wait as a failure, after
// the others.
template <class Try, class GiveBack>
wait_outcome wait_any(std::size_t count, const std::stop_token& stop,
                      Try try_slot, GiveBack give_back) {
  std::stop_source quit;
  // The caller's stop ends every slot's wait: through a callback, or
  // where one is not safe (platform.hpp) by looking every 10 ms, as the
  // slot waits themselves do there.
  struct relay_stop {
    std::stop_source* to;
    void operator()() const noexcept { to->request_stop(); }
  };
  std::optional<std::stop_callback<relay_stop>> relay;
  if (platform::stop_callbacks_safe()) relay.emplace(stop, relay_stop{&quit});
  std::atomic<std::size_t> running{0};
  std::atomic<int> winner{-1};
  std::mutex m;
  wait_outcome out;

  std::vector<std::thread> threads;
  threads.reserve(count);
  try {
    for (std::size_t i = 0; i < count; ++i) {
      running.fetch_add(1);
      threads.emplace_back([&, i] {
        struct leaving {
          std::atomic<std::size_t>& n;
          ~leaving() { n.fetch_sub(1); }
        } gone{running};
        std::string operation = "lock";
        std::error_code ec;
        const auto s = try_slot(i, quit.get_token(), operation, ec);
        if (s == wait_status::acquired) {
          int none = -1;
          if (winner.compare_exchange_strong(none, static_cast<int>(i))) {
            quit.request_stop();
          } else {
            give_back(i);
          }
        } else if (s == wait_status::failed) {
          std::lock_guard lk(m);
          if (!out.ec) {
            out.ec = ec;
            out.operation = std::move(operation);
          }
          quit.request_stop();
        }
      });
    }
  } catch (const std::system_error& e) {
    running.fetch_sub(1);  // the thread that did not start
    std::lock_guard lk(m);
    out.ec = e.code();
    quit.request_stop();
  }
  while (!relay && running.load() > 0) {
    if (stop.stop_requested()) quit.request_stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& t : threads) t.join();

  out.winner = winner.load();
  if (out.winner >= 0) {
    out.status = wait_status::acquired;
  } else if (out.ec) {
    out.status = wait_status::failed;
  } else if (stop.stop_requested()) {
    out.status = wait_status::cancelled;
  } else {
    out.status = wait_status::timed_out;
  }
  return out;
}

acquire_result not_granted(acquire_status s,
                           const std::vector<opened_slot>& slots) {
  acquire_result r;
  r.status = s;
  if (s != acquire_status::cancelled) r.holder = some_holder(slots);
  return r;
}

acquire_result acquire_slot(const request& r, unsigned count) {
  for (;;) {
    std::vector<opened_slot> slots(count);
    for (unsigned i = 0; i < count; ++i) {
      auto& s = slots[i];
      s.path = slot_path(r.path, i + 1);
      platform::failure why;
      s.handle = platform::open_lock_file(s.path, lock_mode::exclusive,
                                          r.options.file_mode, why);
      if (!s.handle.valid()) return failed_result(why.operation, why.code);
      std::error_code ec;
      if (!platform::identify(s.handle, s.id, ec))
        return failed_result("stat", ec);
    }

    // Lowest free slot first, so that status shows the slots in use packed
    // at the start.
    int won = -1;
    const deadline now_only = steady_clock::time_point::min();
    for (unsigned i = 0; i < count && won < 0; ++i) {
      std::error_code ec;
      const auto s = platform::lock_file(slots[i].handle, lock_mode::exclusive,
                                         now_only, {}, ec);
      if (s == wait_status::failed) return failed_result("lock", ec);
      if (s == wait_status::acquired) won = static_cast<int>(i);
    }
    if (won < 0) {
      if (r.until && *r.until <= steady_clock::now()) {
        return not_granted(acquire_status::busy, slots);
      }
      if (r.stop.stop_requested()) {
        return not_granted(acquire_status::cancelled, slots);
      }
      tell(r, "waiting for a slot of '" + r.path.string() + "' (all " +
                  std::to_string(count) + " held)");
      const auto w = wait_any(
          slots.size(), r.stop,
          [&](std::size_t i, const std::stop_token& quit, std::string&,
              std::error_code& ec) {
            return platform::lock_file(slots[i].handle, lock_mode::exclusive,
                                       r.until, quit, ec);
          },
          [&](std::size_t i) {
            // Granted after another slot won: give it straight back.
            std::error_code ignored;
            platform::unlock_file(slots[i].handle, ignored);
          });
      switch (w.status) {
        case wait_status::acquired:
          won = w.winner;
          break;
        case wait_status::failed:
          return failed_result(w.operation, w.ec);
        case wait_status::cancelled:
          return not_granted(acquire_status::cancelled, slots);
        default:
          return not_granted(acquire_status::timed_out, slots);
      }
    }

    // A slot file removed or replaced while we waited (someone tidying up
    // lock files) would leave us holding a lock nobody else can find: the
    // same case the plain OS lock starts over for.
    auto& s = slots[static_cast<std::size_t>(won)];
    std::error_code ec;
    if (platform::path_names(s.path, s.id, ec)) {
      return granted(s, r, static_cast<unsigned>(won) + 1);
    }
    if (ec) return failed_result("stat", ec);
    tell(r, "'" + s.path.string() +
                "' was removed or replaced while we waited; trying again");
  }
}

// One soft slot: soft_acquire on the slot's marker, shown as the slot.
acquire_result try_soft_slot(const request& r, unsigned number,
                             const deadline& until, const std::stop_token& stop,
                             const lock_options& options) {
  const auto file = slot_path(r.path, number);
  return soft_acquire({file, lock_mode::exclusive, until, stop, options,
                       r.owner, &r.path, number});
}

wait_status as_wait_status(acquire_status s) {
  switch (s) {
    case acquire_status::acquired:
      return wait_status::acquired;
    case acquire_status::cancelled:
      return wait_status::cancelled;
    case acquire_status::failed:
      return wait_status::failed;
    case acquire_status::busy:
    case acquire_status::timed_out:
      break;
  }
  return wait_status::timed_out;
}

acquire_result soft_slot(const request& r, unsigned count) {
  // The slots' own waits announce nothing (soft_lock.cpp); a takeover of a
  // stale slot still says so, through r.options.on_diagnostic.
  const lock_options& options = r.options;

  // Lowest free slot first, as for the OS form; a stale marker met on the
  // way is taken over by this one attempt.
  std::optional<holder_info> holder;
  const deadline now_only = steady_clock::time_point::min();
  for (unsigned n = 1; n <= count; ++n) {
    auto got = try_soft_slot(r, n, now_only, {}, options);
    if (got.acquired() || got.status == acquire_status::failed) return got;
    if (!holder) holder = std::move(got.holder);
  }
  auto not_now = [&holder](acquire_status s) {
    acquire_result out;
    out.status = s;
    if (s != acquire_status::cancelled) out.holder = holder;
    return out;
  };
  if (r.until && *r.until <= steady_clock::now()) {
    return not_now(acquire_status::busy);
  }
  if (r.stop.stop_requested()) return not_now(acquire_status::cancelled);
  tell(r, "waiting for a slot of '" + r.path.string() + "' (all " +
              std::to_string(count) + " held)");

  std::vector<acquire_result> got(count);
  const auto w = wait_any(
      count, r.stop,
      [&](std::size_t i, const std::stop_token& quit, std::string& operation,
          std::error_code& ec) {
        got[i] = try_soft_slot(r, static_cast<unsigned>(i) + 1, r.until, quit,
                               options);
        operation = got[i].operation;
        ec = got[i].error;
        return as_wait_status(got[i].status);
      },
      [&](std::size_t i) {
        std::error_code ignored;
        got[i].lock.release(ignored);
      });
  switch (w.status) {
    case wait_status::acquired:
      return std::move(got[static_cast<std::size_t>(w.winner)]);
    case wait_status::failed:
      return failed_result(w.operation, w.ec);
    case wait_status::cancelled:
      return not_now(acquire_status::cancelled);
    default:
      return not_now(acquire_status::timed_out);
  }
}

}  // namespace

std::optional<slots_record> parse_slots_record(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto version = j.find("filelock");
  const auto slots = j.find("slots");
  const auto kind = j.find("kind");
  const std::size_t fields = kind == j.end() ? 2 : 3;
  if (j.size() != fields || version == j.end() || slots == j.end()) {
    return std::nullopt;
  }
  if (!version->is_number_integer() || *version != 1) return std::nullopt;
  if (!slots->is_number_unsigned()) return std::nullopt;
  // Only the soft form names its kind (see record_text).
  if (kind != j.end() && *kind != "soft") return std::nullopt;
  const auto n = slots->get<std::uint64_t>();
  if (n == 0 || n > kMaxSlots) return std::nullopt;
  return slots_record{static_cast<unsigned>(n),
                      kind == j.end() ? lock_kind::os : lock_kind::soft};
}

std::filesystem::path slot_path(const std::filesystem::path& name,
                                unsigned number) {
  auto p = name;
  p += ".slot-" + std::to_string(number);
  return p;
}

acquire_result slots_acquire(const request& r) noexcept try {
  const unsigned count = *r.options.slots;
  // An etcd name's slots are keys in etcd (SEMAPHORES in etcd.hpp).
  if (count > 0 && names_etcd(r.path)) return etcd_acquire(r);
  if (count == 0 || count > kMaxSlots || r.mode != lock_mode::exclusive ||
      names_etcd(r.path)) {
    return failed_result("lock", make_error_code(errc::slots_unsupported));
  }
  // automatic: os, or soft where the filesystem refuses OS locks, as for a
  // plain lock; an existing record decides in the end.
  auto kind = r.options.kind;
  if (kind == lock_kind::automatic) {
    kind = platform::refuses_os_locks(dir_of(r.path)) ? lock_kind::soft
                                                      : lock_kind::os;
  }
  if (auto bad = settle_record(r.path, count, kind, r.options)) {
    return std::move(*bad);
  }
  return kind == lock_kind::soft ? soft_slot(r, count) : acquire_slot(r, count);
} catch (const std::bad_alloc&) {
  return failed_result("lock",
                       std::make_error_code(std::errc::not_enough_memory));
} catch (const error& e) {
  // Reading a soft slot's marker (look_soft) failed.
  return failed_result(e.operation(), e.code());
} catch (const std::system_error& e) {
  return failed_result("lock", e.code());
} catch (const std::exception&) {
  // Only the JSON of the record throws anything else.
  return failed_result("lock", make_error_code(errc::bad_record));
}

namespace {

// A soft semaphore's slots, each judged as a plain soft marker: held,
// stale (its holder provably gone) or free.
lock_report soft_slots_report(lock_report& rep) {
  bool stale = false;
  for (unsigned n = 1; n <= rep.slots; ++n) {
    slot_report s;
    s.number = n;
    s.file = slot_path(rep.path, n);
    const auto view = look_soft(s.file);
    auto one = soft_report(s.file, view);
    if (!one.holders.empty()) {
      s.holder = std::move(one.holders.front());
      rep.holders.push_back(*s.holder);
    }
    s.held = view.state == lock_state::held;
    s.stale = view.state == lock_state::stale;
    s.stale_reason = view.stale_reason;
    if (s.held) rep.state = lock_state::held;
    stale = stale || s.stale;
    rep.slot_list.push_back(std::move(s));
  }
  if (rep.state == lock_state::free && stale) rep.state = lock_state::stale;
  return std::move(rep);
}

}  // namespace

lock_report slots_report(const std::filesystem::path& path,
                         const slots_record& record) {
  lock_report rep;
  rep.path = path;
  rep.kind = record.kind;
  rep.slots = record.count;
  if (record.kind == lock_kind::soft) return soft_slots_report(rep);
  const bool complete = platform::os_lock_holders_complete();
  for (unsigned n = 1; n <= record.count; ++n) {
    slot_report s;
    s.number = n;
    s.file = slot_path(path, n);
    const auto& file = s.file;
    auto holders = os_holders(file);
    if (!holders.empty()) {
      s.held = true;
      s.holder = std::move(holders.front());
      s.holder->since = platform::process_start_time(s.holder->pid);
      rep.holders.push_back(*s.holder);
    } else if (!complete) {
      // The kernel does not name holders here: probe (a non-blocking
      // attempt, released at once) to tell at least held from free.
      platform::failure why;
      platform::marker_state seen;
      std::error_code ec;
      if (platform::read_marker(file, seen, why) == platform::read_status::ok) {
        s.held = platform::os_lock_held(file, seen.id, ec);
      }
    }
    if (s.held) rep.state = lock_state::held;
    rep.slot_list.push_back(std::move(s));
  }
  return rep;
}

std::vector<holder_info> slots_holders(const std::filesystem::path& path) {
  platform::marker_state seen;
  platform::failure why;
  if (platform::read_marker(path, seen, why) != platform::read_status::ok) {
    return {};
  }
  const auto record = parse_slots_record(seen.content);
  if (!record) return {};
  return slots_report(path, *record).holders;
}

namespace {

// How telling an outcome is for the whole semaphore: the highest wins.
int weight(break_outcome o) {
  switch (o) {
    case break_outcome::removed:
      return 5;
    case break_outcome::would_remove:
      return 4;
    case break_outcome::refused_live:
      return 3;
    case break_outcome::refused_unknown:
      return 2;
    case break_outcome::lost_race:
      return 1;
    case break_outcome::nothing_to_do:
      break;
  }
  return 0;
}

}  // namespace

std::optional<break_report> break_soft_slots(const std::filesystem::path& path,
                                             const break_options& options) {
  if (options.kind == lock_kind::os) return std::nullopt;
  platform::marker_state seen;
  platform::failure why;
  switch (platform::read_marker(path, seen, why)) {
    case platform::read_status::failed:
      throw error(why.operation, path, why.code);
    case platform::read_status::missing:
      return std::nullopt;
    case platform::read_status::ok:
      break;
  }
  const auto record = parse_slots_record(seen.content);
  if (!record || record->kind != lock_kind::soft) return std::nullopt;

  break_report out;
  out.before = slots_report(path, *record);
  for (unsigned n = 1; n <= record->count; ++n) {
    auto one = filelock::break_stale(slot_path(path, n), options);
    if (weight(one.outcome) > weight(out.outcome)) out.outcome = one.outcome;
    out.leftovers.insert(out.leftovers.end(), one.leftovers.begin(),
                         one.leftovers.end());
    out.slots.push_back(std::move(one));
  }
  return out;
}

}  // namespace filelock::detail
