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

std::string record_text(unsigned slots) {
  return "{\"filelock\":1,\"slots\":" + std::to_string(slots) + "}\n";
}

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// Makes sure the name records `slots`: publishes the record when there is
// none, and otherwise checks the one there. Returns a failure, or nothing.
std::optional<acquire_result> settle_record(const std::filesystem::path& name,
                                            unsigned slots,
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
        if (recorded == slots) return std::nullopt;
        return failed_result("lock", make_error_code(errc::slots_mismatch));
      }
      case platform::read_status::missing:
        break;
    }

    const auto temp = dir_of(name) / ("." + name.filename().string() + "." +
                                      platform::new_token() + ".tmp");
    // Flushed before it is published: a crash must not leave an empty
    // record, which would read as "not a semaphore" until removed by hand.
    auto h = platform::write_new_file(temp, record_text(slots),
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
  std::error_code ec;
};

// Blocks on every slot at once (see the top of this file). A thread that
// cannot be started ends the wait as a failure, after the others.
wait_outcome wait_any(const std::vector<opened_slot>& slots,
                      const deadline& until, const std::stop_token& stop) {
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
  threads.reserve(slots.size());
  try {
    for (std::size_t i = 0; i < slots.size(); ++i) {
      running.fetch_add(1);
      threads.emplace_back([&, i] {
        struct leaving {
          std::atomic<std::size_t>& n;
          ~leaving() { n.fetch_sub(1); }
        } gone{running};
        std::error_code ec;
        const auto s = platform::lock_file(
            slots[i].handle, lock_mode::exclusive, until, quit.get_token(), ec);
        if (s == wait_status::acquired) {
          int none = -1;
          if (winner.compare_exchange_strong(none, static_cast<int>(i))) {
            quit.request_stop();
          } else {
            // Granted after another slot won: give it straight back.
            std::error_code ignored;
            platform::unlock_file(slots[i].handle, ignored);
          }
        } else if (s == wait_status::failed) {
          std::lock_guard lk(m);
          if (!out.ec) out.ec = ec;
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

void tell(const request& r, const std::string& line) {
  if (!r.options.on_diagnostic) return;
  try {
    r.options.on_diagnostic(line);
  } catch (...) {
  }
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
      const auto w = wait_any(slots, r.until, r.stop);
      switch (w.status) {
        case wait_status::acquired:
          won = w.winner;
          break;
        case wait_status::failed:
          return failed_result("lock", w.ec);
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

}  // namespace

std::optional<unsigned> parse_slots_record(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != 2) return std::nullopt;
  const auto version = j.find("filelock");
  const auto slots = j.find("slots");
  if (version == j.end() || slots == j.end()) return std::nullopt;
  if (!version->is_number_integer() || *version != 1) return std::nullopt;
  if (!slots->is_number_unsigned()) return std::nullopt;
  const auto n = slots->get<std::uint64_t>();
  if (n == 0 || n > kMaxSlots) return std::nullopt;
  return static_cast<unsigned>(n);
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
      r.options.kind == lock_kind::soft || names_etcd(r.path)) {
    return failed_result("lock", make_error_code(errc::slots_unsupported));
  }
  // automatic means os: a semaphore has no soft form to fall back to.
  if (auto bad = settle_record(r.path, count, r.options)) {
    return std::move(*bad);
  }
  return acquire_slot(r, count);
} catch (const std::bad_alloc&) {
  return failed_result("lock",
                       std::make_error_code(std::errc::not_enough_memory));
} catch (const std::system_error& e) {
  return failed_result("lock", e.code());
} catch (const std::exception&) {
  // Only the JSON of the record throws anything else.
  return failed_result("lock", make_error_code(errc::bad_record));
}

lock_report slots_report(const std::filesystem::path& path, unsigned slots) {
  lock_report rep;
  rep.path = path;
  rep.kind = lock_kind::os;
  rep.slots = slots;
  const bool complete = platform::os_lock_holders_complete();
  for (unsigned n = 1; n <= slots; ++n) {
    slot_report s;
    s.number = n;
    const auto file = slot_path(path, n);
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
  const auto slots = parse_slots_record(seen.content);
  if (!slots) return {};
  return slots_report(path, *slots).holders;
}

}  // namespace filelock::detail
