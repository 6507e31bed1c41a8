// The etcd API in a build without the backend (FILELOCK_WITH_ETCD=OFF):
// every entry point reports errc::not_built, so that an etcd name gets a
// clear error instead of being taken for a file path.
#include "etcd/backend_etcd.hpp"
#include "filelock/etcd.hpp"

namespace filelock::etcd {

namespace {

[[noreturn]] void not_built(std::string_view name) {
  throw error("lock", std::string(name), make_error_code(errc::not_built));
}

}  // namespace

bool available() noexcept {
  return false;
}

lock::lock(std::string name, options o)
    : name_(std::move(name)), options_(std::move(o)) {}

acquired lock::acquire_until(deadline, lock_mode,
                             const std::stop_token&) noexcept {
  acquired a;
  a.result.status = acquire_status::failed;
  a.result.operation = "lock";
  a.result.error = make_error_code(errc::not_built);
  return a;
}

report inspect(std::string_view name, const options&) {
  not_built(name);
}

break_result break_stale(std::string_view name, const break_options&,
                         const options&) {
  not_built(name);
}

release_outcome release_key(std::string_view name, std::string_view,
                            std::optional<std::int64_t>, bool, const options&) {
  not_built(name);
}

}  // namespace filelock::etcd

namespace filelock::detail {

acquire_result etcd_acquire(const request&) noexcept {
  acquire_result r;
  r.status = acquire_status::failed;
  r.operation = "lock";
  r.error = etcd::make_error_code(etcd::errc::not_built);
  return r;
}

}  // namespace filelock::detail
