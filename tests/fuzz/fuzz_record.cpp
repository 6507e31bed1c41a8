// Owner records are read from marker files that anyone who can write the
// lock's directory can plant. Whatever the bytes, parsing must not crash;
// a record it accepts must survive a round trip through to_json; a time it
// accepts must format and parse back to the same instant.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "record.hpp"

namespace {

void check_round_trip(const filelock::detail::owner_record& r) {
  using filelock::detail::parse_record;
  const auto again = parse_record(filelock::detail::to_json(r));
  if (!again.record) std::abort();
  const auto& b = *again.record;
  if (b.pid != r.pid || b.token != r.token || b.host != r.host ||
      b.boot_id != r.boot_id || b.start != r.start || b.mode != r.mode ||
      b.command != r.command || b.lifetime != r.lifetime) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = filelock::detail::parse_record(text);
  if (parsed.record) {
    if (parsed.record->origin ==
        filelock::detail::owner_record::format::filelock) {
      check_round_trip(*parsed.record);
    }
    (void)filelock::detail::to_holder(*parsed.record);
  } else if (parsed.error.empty()) {
    std::abort();
  }
  if (const auto t = filelock::detail::parse_time(text)) {
    const auto back =
        filelock::detail::parse_time(filelock::detail::format_time(*t));
    // format_time keeps milliseconds: compare at that precision.
    if (!back || std::chrono::floor<std::chrono::milliseconds>(*back) !=
                     std::chrono::floor<std::chrono::milliseconds>(*t)) {
      std::abort();
    }
  }
  return 0;
}
