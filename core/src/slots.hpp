// Semaphores' internals shared by slots.cpp and inspect.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "filelock/inspect.hpp"

namespace filelock::detail {

// What a semaphore's record file holds: the slot count, and whether its
// slots are OS locks or soft markers.
struct slots_record {
  unsigned count = 0;
  lock_kind kind = lock_kind::os;
};

// The record in text, or nullopt when the text is not such a record.
std::optional<slots_record> parse_slots_record(std::string_view text);

// "<name>.slot-<number>", next to the name.
std::filesystem::path slot_path(const std::filesystem::path& name,
                                unsigned number);

// What inspect() reports for the semaphore at path.
lock_report slots_report(const std::filesystem::path& path,
                         const slots_record& record);

// break_stale() on a soft semaphore's name: each slot's marker broken as a
// plain soft marker. nullopt when path records no soft semaphore.
std::optional<break_report> break_soft_slots(const std::filesystem::path& path,
                                             const break_options& options);

}  // namespace filelock::detail
