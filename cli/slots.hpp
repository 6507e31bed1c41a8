// run --slots N: a semaphore instead of a lock (see SEMAPHORES in
// filelock/lock.hpp and "At most N at a time" in filelock(1)).
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "run.hpp"

namespace filelock::cli {

// Declares --slots N (1 to kMaxSlots).
void add_slots_option(CLI::App& cmd, unsigned& slots);

// A usage message when --slots is combined with what has no slots (-s,
// --kind soft, an etcd name); nothing when fine or not asked for.
std::optional<std::string> check_slots(const run_args& args);

// The line for errc::slots_mismatch at path: what the name records.
std::string describe_slots_mismatch(const std::filesystem::path& path);

}  // namespace filelock::cli
