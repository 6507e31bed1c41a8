#include "slots.hpp"

#include "filelock/inspect.hpp"

namespace filelock::cli {

CLI::Option* add_slots_option(CLI::App& cmd, unsigned& slots) {
  return cmd
      .add_option("--slots", slots,
                  "A semaphore: at most N holders of LOCK at a time "
                  "(exclusive only; one N per LOCK)")
      ->type_name("N")
      ->check(CLI::Range(1u, kMaxSlots));
}

std::optional<std::string> check_slots(std::string_view command,
                                       const lock_args& lock, unsigned slots) {
  if (slots == 0) return std::nullopt;
  if (lock.shared)
    return std::string(command) + ": --slots takes exclusive slots; drop -s";
  return std::nullopt;
}

std::string describe_slots_mismatch(const std::filesystem::path& path) {
  const std::string name = "'" + path.string() + "'";
  unsigned recorded = 0;
  auto kind = lock_kind::os;
  try {
    const auto rep = inspect(path);
    recorded = rep.slots;
    kind = rep.kind;
  } catch (const filelock::error&) {
  }
  if (recorded == 0) {
    return "cannot lock " + name +
           " with --slots: the file exists and is not a semaphore (it "
           "records no slot count)";
  }
  const auto n = std::to_string(recorded);
  if (kind == lock_kind::soft) {
    return "cannot lock " + name + ": it is a soft semaphore of " + n +
           " slots; use --slots " + n + " with it";
  }
  // The count may be right and the kind wrong: an OS semaphore's slots
  // cannot be soft markers (see slots.cpp).
  return "cannot lock " + name + ": it is a semaphore of " + n +
         " slots; use --slots " + n +
         " with it (its slots are OS locks: not with --kind soft or "
         "filelock acquire)";
}

}  // namespace filelock::cli
