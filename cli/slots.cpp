#include "slots.hpp"

#include "etcd_cli.hpp"
#include "filelock/inspect.hpp"

namespace filelock::cli {

void add_slots_option(CLI::App& cmd, unsigned& slots) {
  cmd.add_option("--slots", slots,
                 "A semaphore: at most N holders of LOCK at a time "
                 "(exclusive only; one N per LOCK)")
      ->type_name("N")
      ->check(CLI::Range(1u, kMaxSlots));
}

std::optional<std::string> check_slots(const run_args& a) {
  if (a.slots == 0) return std::nullopt;
  // TODO(#10): soft semaphores; until then they are refused rather than
  // silently turned into a plain lock.
  if (a.kind == "soft") {
    return "run: --slots needs the OS lock; --kind soft has no slots yet";
  }
  if (a.lock.shared) return "run: --slots takes exclusive slots; drop -s";
  return std::nullopt;
}

std::string describe_slots_mismatch(const std::filesystem::path& path) {
  const std::string name = "'" + path.string() + "'";
  unsigned recorded = 0;
  try {
    recorded = inspect(path).slots;
  } catch (const filelock::error&) {
  }
  if (recorded == 0) {
    return "cannot lock " + name +
           " with --slots: the file exists and is not a semaphore (it "
           "records no slot count)";
  }
  return "cannot lock " + name + ": it is a semaphore of " +
         std::to_string(recorded) + " slots; use --slots " +
         std::to_string(recorded) + " with it";
}

}  // namespace filelock::cli
