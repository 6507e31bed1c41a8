// Semaphores' internals shared by slots.cpp and inspect.cpp.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

#include "filelock/inspect.hpp"

namespace filelock::detail {

// The slot count a semaphore's record file holds, or nullopt when the text
// is not such a record.
std::optional<unsigned> parse_slots_record(std::string_view text);

// "<name>.slot-<number>", next to the name.
std::filesystem::path slot_path(const std::filesystem::path& name,
                                unsigned number);

// What inspect() reports for a semaphore of `slots` slots at path.
lock_report slots_report(const std::filesystem::path& path, unsigned slots);

}  // namespace filelock::detail
