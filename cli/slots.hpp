// run --slots N, acquire --slots N: a semaphore instead of a lock (see
// SEMAPHORES in filelock/lock.hpp and "At most N at a time" in filelock(1)).
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "common.hpp"

namespace filelock::cli {

// Declares --slots N (1 to kMaxSlots).
CLI::Option* add_slots_option(CLI::App& cmd, unsigned& slots);

// A usage message, for subcommand `command`, when --slots is combined with
// what has no slots (-s, an etcd name); nothing when fine or not asked for.
std::optional<std::string> check_slots(std::string_view command,
                                       const lock_args& lock, unsigned slots);

// The line for errc::slots_mismatch at path: what the name records.
std::string describe_slots_mismatch(const std::filesystem::path& path);

}  // namespace filelock::cli
