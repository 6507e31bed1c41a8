#include "etcd/session.hpp"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <utility>

#ifndef _WIN32
#include <signal.h>
#endif

#include "platform.hpp"

namespace filelock::etcd::detail {

using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

steady_clock::rep ticks(steady_clock::time_point t) {
  return t.time_since_epoch().count();
}

milliseconds clamp_ms(steady_clock::duration d, milliseconds lo,
                      milliseconds hi) {
  auto ms = std::chrono::duration_cast<milliseconds>(d);
  return std::clamp(ms, lo, hi);
}

// The program's signal handlers must never run on our threads: a handler
// that writes to a pipe its thread closes (filelock run's SIGCHLD pipe)
// would race with it. The threads start with every signal blocked, set in
// the creating thread so that there is no window before they block them.
template <class F>
std::jthread quiet_thread(F&& body) {
#ifndef _WIN32
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::jthread t(std::forward<F>(body));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
#else
  return std::jthread(std::forward<F>(body));
#endif
}

}  // namespace

std::string lease_hex(std::int64_t lease) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%" PRIx64, static_cast<std::uint64_t>(lease));
  return buf;
}

session::session(client& c, std::shared_ptr<config> cfg, const options& o,
                 std::string lock_name, lock_mode mode)
    : cfg_(std::move(cfg)),
      name_(std::move(lock_name)),
      mode_(mode),
      keep_alive_(o.keep_alive),
      on_lost_(o.on_lost),
      monitor_(std::make_shared<lease_monitor>()) {
  const auto sent = steady_clock::now();
  auto reply = c.call("/v3/lease/grant", {{"TTL", o.lease_ttl.count()}});
  monitor_->lease_ = int_field(reply, "ID");
  monitor_->ttl_ = seconds(int_field(reply, "TTL"));
  if (monitor_->lease_ == 0 || monitor_->ttl_ <= seconds(0)) {
    throw call_error(make_error_code(errc::bad_reply),
                     "lease grant: no ID or TTL in the reply");
  }
  monitor_->endpoint_ = c.endpoint();
  monitor_->confirmed_ = ticks(sent);
  // From here the lease is ours to revoke; renewing starts before the key
  // exists so that a long wait in the queue cannot outlast it.
  renewer_ = quiet_thread([this](const std::stop_token& st) { renew(st); });
}

session::~session() {
  stop_threads();
}

void session::diagnose(const std::string& line) const noexcept {
  if (!cfg_->on_diagnostic) return;
  try {
    cfg_->on_diagnostic(line);
  } catch (...) {
  }
}

void session::set_key(std::string key, std::int64_t fence) {
  monitor_->key_ = std::move(key);
  monitor_->fence_ = fence;
}

void session::mark_lost(const std::string& reason) {
  {
    std::lock_guard lk(monitor_->mutex_);
    if (monitor_->lost_) return;
    monitor_->reason_ = reason;
    monitor_->lost_ = true;
  }
  if (!on_lost_) return;
  try {
    on_lost_(reason);
  } catch (...) {
  }
}

// One short POST per renewal: etcd's gateway holds back the replies of a
// streamed keepalive until the request body ends (Go's HTTP/1 server is
// not full duplex), so a stream would not renew anything.
void session::renew(const std::stop_token& st) {
  client c(cfg_);
  stop_wakeup wake(st, c);
  const auto interval =
      std::max<steady_clock::duration>(monitor_->ttl_ / 3, milliseconds(300));
  auto next = monitor_->confirmed_at() + interval;

  while (!st.stop_requested()) {
    pause_until(st, next);
    if (st.stop_requested()) return;
    const auto sent = steady_clock::now();
    const auto safe = monitor_->safe_until();
    try {
      // A renewal that answers after the lease could have run out proves
      // nothing; give up on it by then.
      auto limit =
          clamp_ms(std::min<steady_clock::duration>(interval, safe - sent),
                   milliseconds(50), milliseconds(60000));
      auto reply = c.call("/v3/lease/keepalive",
                          {{"ID", std::to_string(monitor_->lease_)}}, limit);
      // An expired or revoked lease still gets HTTP 200, without a TTL.
      if (int_field(reply, "TTL") <= 0) {
        mark_lost("the lease expired or was revoked");
        return;
      }
      monitor_->confirmed_ = ticks(sent);
      next = sent + interval;
    } catch (const std::exception& e) {
      if (st.stop_requested()) return;
      auto now = steady_clock::now();
      if (now >= monitor_->safe_until()) {
        auto ms = std::chrono::duration_cast<milliseconds>(
            now - monitor_->confirmed_at());
        mark_lost("no lease renewal confirmed for " +
                  std::to_string(ms.count()) + " ms (the TTL is " +
                  std::to_string(monitor_->ttl_.count()) + " s): " + e.what());
        return;
      }
      diagnose(std::string("lease renewal failed, retrying: ") + e.what());
      next = std::min(now + interval, now + milliseconds(1000));
    }
  }
}

// While held, a DELETE of the own key means someone took the lock away
// (break-stale --force, etcdctl del, a revoked lease): lost at once, not
// at the next renewal.
void session::watch_key(const std::stop_token& st) {
  client c(cfg_);
  stop_wakeup wake(st, c);
  std::int64_t from = monitor_->fence_ + 1;
  const auto key = base64_encode(monitor_->key_);

  while (!st.stop_requested()) {
    bool deleted = false;
    bool canceled = false;
    try {
      json req = {{"create_request",
                   {{"key", key},
                    {"start_revision", std::to_string(from)},
                    {"filters", {"NOPUT"}}}}};
      auto on_message = [&](const json& m) {
        if (m.value("canceled", false)) {
          canceled = true;  // compacted past `from`: look at the key itself
          return false;
        }
        for (const auto& ev : m.value("events", json::array())) {
          if (ev.value("type", "PUT") == "DELETE") deleted = true;
        }
        return !deleted;
      };
      auto out = c.stream(
          "/v3/watch", req, on_message, [&st] { return st.stop_requested(); },
          steady_clock::time_point::max());
      if (out == outcome::interrupted) return;
      if (deleted) {
        mark_lost("the lock's key " + monitor_->key_ + " was deleted");
        return;
      }
      if (canceled) {
        auto r = c.call("/v3/kv/range", {{"key", key}});
        auto kvs = r.value("kvs", json::array());
        if (kvs.empty() ||
            int_field(kvs[0], "create_revision") != monitor_->fence_) {
          mark_lost("the lock's key " + monitor_->key_ + " is gone");
          return;
        }
        from = int_field(r["header"], "revision") + 1;
      }
    } catch (const std::exception& e) {
      if (st.stop_requested()) return;
      diagnose(std::string("watch on the lock's key broke, retrying: ") +
               e.what());
      pause_until(st, steady_clock::now() + milliseconds(1000));
    }
  }
}

// The stop-token wait registers a std::stop_callback, which can hang
// where one is unsafe (platform.hpp): there, a look every 50 ms instead.
void session::pause_until(const std::stop_token& st,
                          steady_clock::time_point until) {
  std::unique_lock lk(mutex_);
  if (filelock::detail::platform::stop_callbacks_safe()) {
    wake_.wait_until(lk, st, until, [] { return false; });
    return;
  }
  while (!st.stop_requested() && steady_clock::now() < until) {
    wake_.wait_until(lk,
                     std::min(until, steady_clock::now() + milliseconds(50)));
  }
}

void session::start_holding() {
  if (!keep_alive_) {
    // The lifetime starts now: one last renewal, then none.
    renewer_.request_stop();
    renewer_.join();
    try {
      client c(cfg_);
      const auto sent = steady_clock::now();
      auto reply = c.call("/v3/lease/keepalive",
                          {{"ID", std::to_string(monitor_->lease_)}});
      if (int_field(reply, "TTL") > 0) monitor_->confirmed_ = ticks(sent);
    } catch (const std::exception&) {
      // The lease still runs from the last renewal; safe_until says so.
    }
  }
  watcher_ = quiet_thread([this](const std::stop_token& st) { watch_key(st); });
}

void session::stop_threads() noexcept {
  renewer_.request_stop();
  watcher_.request_stop();
  wake_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (watcher_.joinable()) watcher_.join();
}

void session::revoke(std::error_code& ec) noexcept {
  ec.clear();
  try {
    client c(cfg_);
    // After a loss the revoke is a courtesy that may shorten the others'
    // wait; it must not hold up the caller for a whole request timeout.
    const auto timeout =
        monitor_->lost() ? std::min(cfg_->request_timeout, milliseconds(1000))
                         : cfg_->request_timeout;
    c.call("/v3/lease/revoke", {{"ID", std::to_string(monitor_->lease_)}},
           timeout);
  } catch (const call_error& e) {
    // Revoked already, or expired: the key is gone either way.
    if (e.grpc_code() == kGrpcNotFound) {
      if (!monitor_->lost()) mark_lost("the lease expired or was revoked");
      ec = make_error_code(filelock::errc::lock_lost);
      return;
    }
    ec = e.code();
    diagnose(std::string("cannot revoke the lease: ") + e.what() +
             "; it expires by itself within its TTL");
  } catch (const std::exception&) {
    ec = make_error_code(errc::unavailable);
  }
}

void session::abandon() noexcept {
  stop_threads();
  std::error_code ignored;
  revoke(ignored);
}

bool session::is_intact(std::error_code& ec) const noexcept {
  ec.clear();
  return !monitor_->lost();
}

std::string session::detach(std::error_code& ec) noexcept {
  ec.clear();
  stop_threads();
  return monitor_->key_;
}

void session::release(std::error_code& ec) noexcept {
  stop_threads();
  const bool was_lost = monitor_->lost();
  revoke(ec);
  if (!ec && was_lost) ec = make_error_code(filelock::errc::lock_lost);
}

}  // namespace filelock::etcd::detail
