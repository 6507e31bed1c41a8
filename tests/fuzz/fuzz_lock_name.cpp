// Lock names come from the command line and from ETCDCTL_ENDPOINTS. The
// first byte of the input picks whether the rest is the name or the
// endpoint list of a short etcd:NAME; whatever the bytes, parse_name must
// either give endpoints and a non-empty key that does not end in '/', or
// throw filelock::error naming the input; nothing else may escape.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "filelock/error.hpp"
#include "filelock/etcd.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1),
                              size - 1);
  const bool as_endpoints = (data[0] & 1) != 0;
  const std::string name = as_endpoints ? "etcd:jobs/x" : std::string(text);
  const std::string_view endpoints = as_endpoints ? text : "127.0.0.1:2379";
  try {
    const auto where = filelock::etcd::parse_name(name, endpoints);
    if (where.endpoints.empty() || where.name.empty() ||
        where.name.back() == '/') {
      std::abort();
    }
    for (const auto& url : where.endpoints) {
      if (url.find("://") == std::string::npos) std::abort();
    }
  } catch (const filelock::error& e) {
    if (std::string_view(e.what()).empty()) std::abort();
  }
  return 0;
}
