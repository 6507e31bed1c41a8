// Fair queueing's internals shared by fair.cpp, lock.cpp and inspect.cpp.
#pragma once

#include <filesystem>
#include <vector>

#include "backend.hpp"
#include "filelock/inspect.hpp"

namespace filelock::detail {

// lock_options::fair on an OS lock (see FAIR QUEUEING in lock.hpp).
acquire_result fair_acquire(const request& r) noexcept;

// "<name>.fair", the directory of the name's tickets.
std::filesystem::path queue_dir(const std::filesystem::path& name);

// The live tickets of the name's queue, oldest first.
std::vector<queue_entry> fair_queue(const std::filesystem::path& name);

}  // namespace filelock::detail
