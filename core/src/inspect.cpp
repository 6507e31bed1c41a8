// inspect(): what kind of lock a path is and who holds it, without taking
// or creating anything.
#include "filelock/inspect.hpp"

#include "fair.hpp"
#include "platform.hpp"
#include "slots.hpp"
#include "soft_lock.hpp"

namespace filelock {
namespace {

std::filesystem::path dir_of(const std::filesystem::path& p) {
  auto dir = p.parent_path();
  return dir.empty() ? std::filesystem::path(".") : dir;
}

// The kernel's view of an existing file.
lock_report os_report(const std::filesystem::path& path,
                      const detail::platform::file_id& id) {
  lock_report rep;
  rep.path = path;
  rep.kind = lock_kind::os;
  rep.holders = detail::platform::os_lock_holders(id);
  if (rep.holders.empty()) return rep;
  rep.state = lock_state::held;
  rep.mode = lock_mode::shared;
  for (auto& h : rep.holders) {
    // The kernel does not say when a lock was taken; the holder process's
    // start time is the closest thing it can tell.
    h.since = detail::platform::process_start_time(h.pid);
    if (h.mode == lock_mode::exclusive) rep.mode = lock_mode::exclusive;
  }
  return rep;
}

lock_report free_report(const std::filesystem::path& path, lock_kind kind) {
  lock_report rep;
  rep.path = path;
  rep.kind = kind;
  return rep;
}

}  // namespace

std::string_view to_string(lock_state state) noexcept {
  switch (state) {
    case lock_state::free:
      return "free";
    case lock_state::held:
      return "held";
    case lock_state::stale:
      return "stale";
  }
  return "free";
}

std::string_view to_string(break_outcome outcome) noexcept {
  switch (outcome) {
    case break_outcome::nothing_to_do:
      return "nothing_to_do";
    case break_outcome::removed:
      return "removed";
    case break_outcome::would_remove:
      return "would_remove";
    case break_outcome::refused_live:
      return "refused_live";
    case break_outcome::refused_unknown:
      return "refused_unknown";
    case break_outcome::lost_race:
      return "lost_race";
  }
  return "nothing_to_do";
}

std::string_view to_string(release_outcome outcome) noexcept {
  switch (outcome) {
    case release_outcome::released:
      return "released";
    case release_outcome::not_held:
      return "not_held";
    case release_outcome::not_owner:
      return "not_owner";
    case release_outcome::os_locked:
      return "os_locked";
  }
  return "not_held";
}

namespace {

lock_report inspect_lock(const std::filesystem::path& path, lock_kind hint) {
  // Where the kernel's list of OS lock holders is incomplete (everywhere
  // but Linux), only trying the lock tells a held lock from an idle file:
  // without that try, status called a held lock free there.
  const auto view =
      detail::look_soft(path, !detail::platform::os_lock_holders_complete());
  if (!view.present) {
    if (hint == lock_kind::automatic) {
      hint = detail::platform::refuses_os_locks(dir_of(path)) ? lock_kind::soft
                                                              : lock_kind::os;
    }
    return free_report(path, hint);
  }
  if (auto slots = detail::parse_slots_record(view.marker.content)) {
    return detail::slots_report(path, *slots);
  }

  // A file someone holds an OS lock on is an OS lock, whatever it holds.
  auto os = os_report(path, view.marker.id);
  if (hint == lock_kind::os || os.state == lock_state::held || view.os_locked) {
    if (view.os_locked && os.state != lock_state::held) {
      os.state = lock_state::held;  // the kernel did not say who
    }
    return os;
  }
  if (hint == lock_kind::soft || view.parsed.record ||
      detail::platform::refuses_os_locks(dir_of(path))) {
    return detail::soft_report(path, view);
  }
  // Empty or foreign content under automatic: an idle OS lock file.
  return free_report(path, lock_kind::os);
}

}  // namespace

lock_report inspect(const std::filesystem::path& path, lock_kind hint) {
  auto rep = inspect_lock(path, hint);
  if (rep.kind == lock_kind::os && rep.slots == 0) {
    rep.queue = detail::fair_queue(path);
  }
  return rep;
}

}  // namespace filelock
