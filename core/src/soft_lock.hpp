// The soft lock's internals shared by soft_lock.cpp and inspect.cpp.
#pragma once

#include <filesystem>
#include <string>

#include "filelock/inspect.hpp"
#include "platform.hpp"
#include "record.hpp"

namespace filelock::detail {

// A soft marker as read and judged at one moment.
struct soft_view {
  bool present = false;
  platform::marker_state marker;
  parse_result parsed;
  // held or stale when present (an unknown owner is held).
  lock_state state = lock_state::free;
  std::string stale_reason;
  // Someone holds an OS lock on the file: never to be removed (C10).
  bool os_locked = false;

  bool owner_unknown() const noexcept { return present && !parsed.record; }
};

// Reads and judges the marker at path (see inspect.hpp for the rules).
// Whether someone holds an OS lock on it is probed for a stale marker, and
// with probe_os for any. Throws filelock::error when it cannot be read.
soft_view look_soft(const std::filesystem::path& path, bool probe_os = false);

// The report inspect() gives for a soft marker.
lock_report soft_report(const std::filesystem::path& path,
                        const soft_view& view);

}  // namespace filelock::detail
