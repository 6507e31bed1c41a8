// Locks across machines: the etcd v3 backend.
//
// NAMES
//   etcd://HOST:PORT[,HOST:PORT...]/NAME   plain HTTP to those endpoints
//   etcds://HOST:PORT[,HOST:PORT...]/NAME  the same over TLS
//   etcd:NAME                              endpoints from options::endpoints,
//                                          else FILELOCK_ETCD_ENDPOINTS, else
//                                          ETCDCTL_ENDPOINTS (comma-separated
//                                          URLs or HOST:PORT)
//   NAME is used verbatim as the key prefix, exactly as `etcdctl lock NAME`
//   uses it, so the two exclude each other. It must not be empty, must not
//   end in '/', and its sub-prefixes "r/" and "n/" are reserved for shared
//   holders and semaphores.
//   Endpoints are tried in order; one that does not answer (refused,
//   timeout, "no leader") is skipped for the next.
//
// THE RECIPE
//   Every contender grants itself a lease and creates one key under NAME/
//   attached to it, in a transaction that creates the key only if it does
//   not exist yet: NAME/<lease in hex> (exclusive, the key etcdctl uses) or
//   NAME/r/<lease in hex> (shared). The key's create revision is its place
//   in the queue. An exclusive contender holds the lock when no older key
//   exists; a shared one when no older key is exclusive (keys outside r/,
//   etcdctl's included). A waiter watches only the one key that blocks it,
//   the newest older key (exclusive) or the newest older exclusive key
//   (shared), and is woken by its deletion: no polling, and a release
//   wakes one waiter, not the queue. Readers that arrive after a waiting
//   writer queue behind it, so writers are not starved. Before reporting
//   success it checks, in a transaction, that its key still exists with
//   its create revision: a lease that expired while waiting is caught
//   there, not reported as a lock (the bug of etcd 3.4's own lock service,
//   which is why that service is not used).
//
//   The key's value is one JSON object naming the holder, with the field
//   names of a soft lock's owner record (see inspect.hpp):
//     {"filelock":1,"pid":4242,"start":"8812345","boot_id":"3f0e...",
//      "host":"build7","since":"2026-12-03T19:05:04.123Z","lifetime":15.0,
//      "mode":"exclusive","command":"backup.sh"}
//   A key with an empty value (etcdctl lock) is held by an unknown owner.
//
// THE LEASE AND THE SAFETY MARGIN
//   The lease is renewed by a background thread every TTL/3, from the moment
//   the key exists (so also while waiting). A renewal is one short POST:
//   etcd's JSON gateway cannot stream keepalives over HTTP/1.1. The time at
//   which a confirmed renewal was SENT is kept on the steady clock: the
//   server processed it after that moment, so it cannot expire the lease
//   before sent + TTL (leader changes and restarts only lengthen leases).
//   lease_monitor::safe_until() is that bound. Nothing compares wall clocks:
//   a host whose clock is hours off behaves identically; only the rate of
//   the clocks matters, and margin (default 0.5 s) absorbs it and etcd's
//   500 ms expiry sweep. A program that must stop using the resource before
//   anyone else can take the lock stops at safe_until() - margin at the
//   latest (filelock run does: TERM, then KILL before that moment).
//
// LOSS
//   The lock is lost when a renewal says the lease is gone, when the key is
//   deleted (watched while held: break-stale --force, `etcdctl del`), or
//   when safe_until() passes without a confirmed renewal (etcd unreachable
//   or stalled). lease_monitor::lost() turns true and options::on_lost runs
//   once, on a background thread. guard::is_intact() is false from then on.
//
// THE FENCE
//   fence() is the key's create revision: strictly increasing across the
//   successive holders of one name. It protects a resource that checks it
//   (a store that refuses writes carrying a lower fence than it has seen,
//   or an etcd transaction comparing create(key) == fence). It does not
//   stop a holder that was paused past its lease from acting on anything
//   that does not check it: only the resource can refuse a stale holder.
//
// SEMAPHORES (options::slots = N)
//   At most N holders at a time. A contender's key is NAME/n/<lease in hex>;
//   it holds a slot when no older key outside n/ exists (a plain lock,
//   shared or exclusive, or etcdctl's, excludes the whole semaphore and is
//   excluded by it) and fewer than N older n/ keys do. A waiter watches
//   the N nearest older n/ keys (or the newest older key outside n/): while
//   all N exist it has N older keys whatever else happens, and no key can
//   become older than it, so only a deletion among those N can grant it a
//   slot. A release thus wakes at most the N waiters right behind it.
//   The key NAME itself records N, {"filelock":1,"slots":N} (the local
//   semaphore's record), created by the first acquirer in the same
//   transaction as its key and joined by the others only while it still is
//   the record they read: another N fails with filelock::errc::
//   slots_mismatch (acquired::recorded_slots says the one recorded). It is
//   attached to no lease and never removed by filelock: one name, one N,
//   as with the local form; delete the key NAME when nothing uses the
//   semaphore to change N. A holder then claims the lowest free number
//   among NAME.slot-1 ... NAME.slot-N (a key on its lease, created only if
//   absent), so that the numbers of concurrent holders differ:
//   lease_monitor::slot() and guard::slot().
//
// LIMITS
//   - Not reentrant: a second acquire of the same name in one process, on
//     any thread, queues behind the first like another process would.
//   - A process that is itself frozen (SIGSTOP, VM pause) cannot act on a
//     loss; after it dies its key lasts until its lease expires (TTL).
//   - Requires etcd >= 3.4 (the /v3/ gateway paths).
//   - Auth: a user name with a password (never taken from the command line:
//     options::password, FILELOCK_ETCD_PASSWORD, or the file named by
//     FILELOCK_ETCD_PASSWORD_FILE); the token is renewed on expiry.
//
// ERRORS
//   Like the file locks: contention is a result (busy, timed_out,
//   cancelled), everything else a failed result or a filelock::error with a
//   code of etcd::errc below (or filelock::errc::lock_lost).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "filelock/inspect.hpp"
#include "filelock/lock.hpp"

namespace filelock::etcd {

enum class errc {
  // No endpoint answered (refused, timed out, no leader).
  unavailable = 1,
  // Authentication failed or the user lacks permission on the keys.
  access_denied,
  // The name is not an etcd lock name, or its endpoints are malformed.
  bad_name,
  // The server answered something this client does not understand.
  bad_reply,
  // The server refused a request for another reason.
  server_error,
  // This filelock was built with FILELOCK_WITH_ETCD=OFF.
  not_built,
  // libcurl, which the backend loads on first use, could not be loaded
  // (the error's detail names the file and the loader's reason).
  curl_unavailable,
  // An etcd:NAME without endpoints: none given, none in the environment.
  no_endpoints,
};

const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// True when this build has the etcd backend.
bool available() noexcept;

// True for names in any of the three forms above (this only looks at the
// scheme; parse_name checks the rest).
bool is_etcd_name(std::string_view name) noexcept;

struct location {
  // Base URLs, "http://127.0.0.1:2379".
  std::vector<std::string> endpoints;
  // The key prefix, "jobs/backup".
  std::string name;
};

// Splits a lock name. default_endpoints (comma-separated) serves the short
// form; when empty, the environment is read as described under NAMES.
// Throws filelock::error with errc::bad_name.
location parse_name(std::string_view name,
                    std::string_view default_endpoints = {});

struct options {
  // For etcd:NAME; see NAMES.
  std::string endpoints;
  // Requested lease TTL; etcd raises it to its minimum (2 s by default).
  std::chrono::seconds lease_ttl{15};
  // Renew the lease in the background while held. false: the lease runs
  // out after lease_ttl unless released first (filelock acquire --lifetime).
  bool keep_alive = true;
  // Subtracted from safe_until() by whoever acts on it; see the header.
  std::chrono::milliseconds margin{500};
  // How long one request may take before the next endpoint is tried.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};

  // TLS (etcds:// or https:// endpoints): PEM files.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure_skip_tls_verify = false;

  // Authentication; empty user: none.
  std::string user;
  std::string password;

  // A semaphore of this many slots instead of a lock (see SEMAPHORES);
  // 0: a lock. Exclusive mode only.
  unsigned slots = 0;

  // Recorded in the key's value for status.
  std::string command;
  // The process recorded as the holder instead of this one.
  std::optional<std::int64_t> owner_pid;

  // One line of diagnostics (endpoint failover, retries); never printed
  // by the library.
  std::function<void(std::string_view)> on_diagnostic;
  // Runs once when a held lock is lost, on a background thread, with the
  // reason. Keep it short; it must not release the guard.
  std::function<void(std::string_view)> on_lost;
};

// Fills user, password and the TLS files from FILELOCK_ETCD_USER,
// FILELOCK_ETCD_PASSWORD, FILELOCK_ETCD_PASSWORD_FILE, FILELOCK_ETCD_CACERT,
// FILELOCK_ETCD_CERT, FILELOCK_ETCD_KEY, falling back to etcdctl's
// ETCDCTL_USER ("name" or "name:password"), ETCDCTL_PASSWORD,
// ETCDCTL_CACERT, ETCDCTL_CERT and ETCDCTL_KEY. Fields already set win.
// Throws filelock::error when the password file cannot be read.
void apply_environment(options& o);

namespace detail {
class session;
}

// The live view of one held etcd lock. Thread-safe; it outlives the guard.
class lease_monitor {
 public:
  std::int64_t fence() const noexcept { return fence_; }
  const std::string& key() const noexcept { return key_; }
  std::int64_t lease() const noexcept { return lease_; }
  // The TTL etcd granted (may exceed the one asked for).
  std::chrono::seconds ttl() const noexcept { return ttl_; }
  // The endpoint that granted the lease.
  const std::string& endpoint() const noexcept { return endpoint_; }
  // A semaphore's slot number held, from 1; 0 for a lock.
  unsigned slot() const noexcept { return slot_; }

  bool lost() const noexcept { return lost_.load(); }
  std::string lost_reason() const;
  // Steady-clock send time of the last renewal etcd confirmed (the grant
  // at first), and the moment before which etcd cannot expire the lease.
  steady_clock::time_point confirmed_at() const noexcept;
  steady_clock::time_point safe_until() const noexcept {
    return confirmed_at() + ttl_;
  }

 private:
  friend class detail::session;
  std::int64_t fence_ = 0;
  std::string key_;
  std::int64_t lease_ = 0;
  std::chrono::seconds ttl_{0};
  std::string endpoint_;
  unsigned slot_ = 0;
  std::atomic<steady_clock::rep> confirmed_{0};
  std::atomic<bool> lost_{false};
  mutable std::mutex mutex_;
  std::string reason_;
};

struct acquired {
  filelock::acquire_result result;
  // Set when acquired.
  std::shared_ptr<const lease_monitor> monitor;
  // When failed: what happened, e.g. "http://10.0.0.1:2379: Couldn't
  // connect to server".
  std::string detail;
  // For filelock::errc::slots_mismatch: the slot count the name records;
  // 0 when the key NAME holds something else.
  unsigned recorded_slots = 0;
};

class lock {
 public:
  // No I/O; the name is checked on acquire.
  explicit lock(std::string name, options o = {});

  const std::string& name() const noexcept { return name_; }

  // As file_lock::acquire_until: an empty deadline waits without limit, a
  // past one makes one attempt. Never throws. A contender that gives up
  // (busy, timeout, stop request, failure) revokes its lease, which removes
  // its key: nothing is left behind.
  acquired acquire_until(deadline until, lock_mode mode,
                         const std::stop_token& stop = {}) noexcept;

 private:
  std::string name_;
  options options_;
};

// One key under NAME/, oldest first.
struct entry {
  std::string key;
  std::int64_t fence = 0;  // create revision
  std::int64_t lease = 0;  // 0: no lease, the key never expires
  std::optional<std::chrono::seconds> ttl_left;
  bool holds = false;        // holds the lock now (else waits)
  std::size_t position = 0;  // 0 for holders, 1.. for waiters in order
  unsigned slot = 0;         // a semaphore holder's slot number, from 1
  holder_info holder;
  // The value is empty or not a filelock record (etcdctl lock).
  bool owner_unknown = false;
  // For break_stale: why this entry is stale, empty when it is not.
  std::string stale_reason;
};

struct report {
  std::string name;
  std::vector<std::string> endpoints;
  std::vector<entry> entries;
  lock_state state = lock_state::free;
  std::int64_t revision = 0;  // the store revision read at
  // A semaphore: the slot count the key NAME records (0: not one).
  unsigned slots = 0;
};

// Every contender of the lock, in queue order. Throws filelock::error.
report inspect(std::string_view name, const options& o = {});

struct break_result {
  report before;
  break_outcome outcome = break_outcome::nothing_to_do;
  // The keys whose leases were (or, dry run, would be) revoked.
  std::vector<entry> broken;
};

// Revokes the lease of every stale contender: a key without a lease, or a
// holder recorded on this host and boot whose process is gone (or was
// replaced by another with the same pid). With force, also the current
// holders whatever their state. Only the leases read are revoked, so a
// contender that arrives meanwhile is never touched. Throws filelock::error.
break_result break_stale(std::string_view name, const break_options& how = {},
                         const options& o = {});

// Revokes the lease of the key `key` under the lock (a holder that
// outlived its guard: filelock release). Refuses (not_owner) when the key
// records another owner than owner_pid unless force. Throws on I/O errors.
release_outcome release_key(std::string_view name, std::string_view key,
                            std::optional<std::int64_t> owner_pid, bool force,
                            const options& o = {});

}  // namespace filelock::etcd

template <>
struct std::is_error_code_enum<filelock::etcd::errc> : std::true_type {};
