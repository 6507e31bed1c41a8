// file_lock's entry into the etcd backend: a path in one of etcd.hpp's name
// forms is an etcd lock, with its options from the environment.
#pragma once

#include "backend.hpp"

namespace filelock::detail {

// Options: lease TTL from lock_options::lifetime (else 15 s), renewed in
// the background; auth and TLS from the environment (etcd::
// apply_environment); command, owner_pid and on_diagnostic as given.
// Builds without the backend fail with etcd::errc::not_built.
acquire_result etcd_acquire(const request& r) noexcept;

// True when the lock's "path" is an etcd name (etcd.hpp's three forms).
bool names_etcd(const std::filesystem::path& path) noexcept;

}  // namespace filelock::detail
