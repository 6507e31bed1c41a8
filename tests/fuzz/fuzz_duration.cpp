// Durations come from the command line (-w, --lifetime). Whatever the
// bytes, the parser must return a non-negative duration no larger than the
// documented maximum, or a reason that quotes the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "duration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto d = filelock::cli::parse_duration(text, why);
  if (d) {
    if (d->count() < 0 || *d > filelock::cli::kMaxDuration) std::abort();
    (void)filelock::cli::format_duration(*d);
  } else if (why.empty()) {
    std::abort();
  }
  return 0;
}
