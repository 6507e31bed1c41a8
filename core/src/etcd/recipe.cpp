// The lock recipe on etcd's transactions, ranges, leases and watches; see
// etcd.hpp for the algorithm and its guarantees.
#include <optional>
#include <utility>

#include "etcd/backend_etcd.hpp"
#include "etcd/client.hpp"
#include "etcd/session.hpp"
#include "platform.hpp"
#include "record.hpp"

namespace filelock::etcd {

namespace platform = filelock::detail::platform;
using detail::base64_decode;
using detail::base64_encode;
using detail::call_error;
using detail::client;
using detail::int_field;
using detail::json;
using detail::session;
using detail::stop_wakeup;

bool available() noexcept {
  return true;
}

namespace {

constexpr std::string_view kSharedDir = "r/";

struct kv {
  std::string key;
  std::int64_t fence = 0;
  std::int64_t lease = 0;
  std::string value;
};

kv read_kv(const json& j) {
  kv out;
  out.key = base64_decode(j.value("key", ""));
  out.fence = int_field(j, "create_revision");
  out.lease = int_field(j, "lease");
  out.value = base64_decode(j.value("value", ""));
  return out;
}

std::vector<kv> read_kvs(const json& reply) {
  std::vector<kv> out;
  for (const auto& j : reply.value("kvs", json::array())) {
    out.push_back(read_kv(j));
  }
  return out;
}

bool is_shared_key(std::string_view prefix, std::string_view key) {
  return key.substr(prefix.size()).starts_with(kSharedDir);
}

// A range over every key under prefix, oldest first; more fields set by
// the caller.
json range_request(const std::string& prefix) {
  return {{"key", base64_encode(prefix)},
          {"range_end", base64_encode(detail::prefix_end(prefix))},
          {"sort_order", "ASCEND"},
          {"sort_target", "CREATE"}};
}

std::string record_for(const options& o, lock_mode mode, std::int64_t lease,
                       std::chrono::seconds ttl) {
  filelock::detail::owner_record r;
  r.pid = o.owner_pid.value_or(platform::current_pid());
  r.start = platform::process_start(r.pid);
  r.boot_id = platform::boot_id();
  r.host = platform::host_name();
  r.since = std::chrono::system_clock::now();
  r.lifetime = std::chrono::duration_cast<std::chrono::milliseconds>(ttl);
  r.token = detail::lease_hex(lease);
  r.mode = mode;
  r.command = o.command;
  auto text = filelock::detail::to_json(r);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::optional<holder_info> holder_from(const kv& k) {
  auto parsed = filelock::detail::parse_record(k.value);
  if (!parsed.record) return std::nullopt;
  return filelock::detail::to_holder(*parsed.record);
}

// The contender that blocks `mine` (the newest older key; for a shared
// contender the newest older exclusive key), if any. Older keys are read
// with max_create_revision; etcd's count ignores that filter, so only the
// returned kvs count.
struct blocker_view {
  std::optional<kv> blocker;
  std::int64_t revision = 0;
};

blocker_view find_blocker(client& c, const std::string& prefix,
                          std::int64_t myrev, lock_mode mode) {
  auto req = range_request(prefix);
  req["sort_order"] = "DESCEND";
  req["keys_only"] = true;
  req["max_create_revision"] = std::to_string(myrev - 1);
  if (mode == lock_mode::exclusive) req["limit"] = "1";
  auto reply = c.call("/v3/kv/range", req);
  blocker_view v;
  v.revision = int_field(reply.value("header", json::object()), "revision");
  for (auto& k : read_kvs(reply)) {
    if (k.fence >= myrev) continue;
    if (mode == lock_mode::shared && is_shared_key(prefix, k.key)) continue;
    v.blocker = std::move(k);
    break;
  }
  return v;
}

// Creates my key unless it exists (then it is mine already: same lease),
// and reads the oldest contender, in one round trip.
std::pair<std::int64_t, std::optional<kv>> enqueue(client& c,
                                                   const std::string& key,
                                                   const std::string& prefix,
                                                   const std::string& value,
                                                   std::int64_t lease) {
  auto k = base64_encode(key);
  auto oldest = range_request(prefix);
  oldest["limit"] = "1";
  json txn = {
      {"compare",
       {{{"key", k},
         {"target", "CREATE"},
         {"result", "EQUAL"},
         {"create_revision", "0"}}}},
      {"success",
       {{{"request_put",
          {{"key", k},
           {"value", base64_encode(value)},
           {"lease", std::to_string(lease)}}}},
        {{"request_range", oldest}}}},
      {"failure",
       {{{"request_range", {{"key", k}}}}, {{"request_range", oldest}}}}};
  auto reply = c.call("/v3/kv/txn", txn);
  auto responses = reply.value("responses", json::array());
  if (responses.size() != 2) {
    throw call_error(make_error_code(errc::bad_reply),
                     "enqueue: the transaction answered no ranges");
  }
  std::int64_t myrev = 0;
  if (reply.value("succeeded", false)) {
    myrev = int_field(reply["header"], "revision");
  } else {
    auto mine = read_kvs(responses[0].value("response_range", json::object()));
    if (!mine.empty()) myrev = mine[0].fence;
  }
  auto first = read_kvs(responses[1].value("response_range", json::object()));
  std::optional<kv> head;
  if (!first.empty()) head = std::move(first[0]);
  if (myrev == 0) {
    throw call_error(make_error_code(errc::bad_reply),
                     "enqueue: no create revision for " + key);
  }
  return {myrev, std::move(head)};
}

bool still_mine(client& c, const std::string& key, std::int64_t myrev) {
  json txn = {{"compare",
               {{{"key", base64_encode(key)},
                 {"target", "CREATE"},
                 {"result", "EQUAL"},
                 {"create_revision", std::to_string(myrev)}}}}};
  return c.call("/v3/kv/txn", txn).value("succeeded", false);
}

enum class wait_end { gone, stopped, timed_out, lost };

// Waits for the deletion of `blocker`. The watch starts at the revision
// after the read that found it, so a deletion in between is replayed, not
// missed; once the watch exists the key is read once more, because an
// event from before the watch's creation is delivered only on etcd's
// 100 ms resync.
wait_end wait_for_delete(client& c, client& side, const kv& blocker,
                         std::int64_t from, const deadline& until,
                         const std::stop_token& stop, const session& s) {
  const auto key = base64_encode(blocker.key);
  json req = {{"create_request",
               {{"key", key},
                {"start_revision", std::to_string(from)},
                {"filters", {"NOPUT"}}}}};
  bool gone = false;
  auto on_message = [&](const json& m) {
    if (m.value("canceled", false)) return false;  // compacted: re-read
    if (m.value("created", false)) {
      auto r = side.call("/v3/kv/range", {{"key", key}, {"keys_only", true}});
      auto kvs = r.value("kvs", json::array());
      gone =
          kvs.empty() || int_field(kvs[0], "create_revision") != blocker.fence;
      return !gone;
    }
    for (const auto& ev : m.value("events", json::array())) {
      if (ev.value("type", "PUT") == "DELETE") gone = true;
    }
    return !gone;
  };
  auto stop_check = [&] {
    return stop.stop_requested() || s.monitor()->lost();
  };
  auto out = c.stream("/v3/watch", req, on_message, stop_check,
                      until.value_or(steady_clock::time_point::max()));
  if (out == detail::outcome::timed_out) return wait_end::timed_out;
  if (out == detail::outcome::interrupted) {
    return stop.stop_requested() ? wait_end::stopped : wait_end::lost;
  }
  return wait_end::gone;
}

acquired failed(std::string operation, const std::error_code& ec,
                std::string detail) {
  acquired a;
  a.result.status = acquire_status::failed;
  a.result.operation = std::move(operation);
  a.result.error = ec;
  a.detail = std::move(detail);
  return a;
}

acquired with_status(acquire_status st, std::optional<holder_info> h = {}) {
  acquired a;
  a.result.status = st;
  a.result.holder = std::move(h);
  return a;
}

struct attempt_end {
  std::optional<acquired> result;  // empty: lease lost while waiting, retry
};

attempt_end attempt(client& c, client& side,
                    const std::shared_ptr<detail::config>& cfg,
                    const location& where, const options& o,
                    const std::string& lock_name, const deadline& until,
                    lock_mode mode, const std::stop_token& stop) {
  auto s = std::make_shared<session>(c, cfg, o, lock_name, mode);
  try {
    const std::string prefix = where.name + "/";
    std::string key = prefix;
    if (mode == lock_mode::shared) key += kSharedDir;
    key += detail::lease_hex(s->lease());
    auto [myrev, head] = enqueue(
        c, key, prefix, record_for(o, mode, s->lease(), s->monitor()->ttl()),
        s->lease());
    s->set_key(key, myrev);

    bool waited = false;
    for (;;) {
      auto view = find_blocker(c, prefix, myrev, mode);
      if (!view.blocker) break;
      const bool may_wait = !until || steady_clock::now() < *until;
      if (!may_wait) {
        std::optional<holder_info> who;
        if (head && head->fence != myrev) who = holder_from(*head);
        s->abandon();
        return {with_status(
            waited ? acquire_status::timed_out : acquire_status::busy,
            std::move(who))};
      }
      waited = true;
      auto end = wait_for_delete(c, side, *view.blocker, view.revision + 1,
                                 until, stop, *s);
      if (end == wait_end::stopped) {
        s->abandon();
        return {with_status(acquire_status::cancelled)};
      }
      if (end == wait_end::lost) break;  // the check below decides
      if (end == wait_end::timed_out) {
        auto who = holder_from(*view.blocker);
        s->abandon();
        return {with_status(acquire_status::timed_out, std::move(who))};
      }
    }

    // Our lease may have expired while we waited (etcd stalled, renewals
    // lost): the key is then gone, and a younger contender may hold the
    // lock. Only a key that still carries our create revision is a lock.
    if (s->monitor()->lost() || !still_mine(c, key, myrev)) {
      s->abandon();
      return {};
    }
    s->start_holding();
    acquired a;
    a.result.status = acquire_status::acquired;
    a.monitor = s->monitor();
    a.result.lock = guard(std::move(s));
    return {std::move(a)};
  } catch (...) {
    s->abandon();
    throw;
  }
}

}  // namespace

lock::lock(std::string name, options o)
    : name_(std::move(name)), options_(std::move(o)) {}

acquired lock::acquire_until(deadline until, lock_mode mode,
                             std::stop_token stop) noexcept {
  try {
    auto where = parse_name(name_, options_.endpoints);
    auto cfg = detail::make_config(where, options_);
    client c(cfg);
    client side(cfg);
    stop_wakeup wake(stop, c);
    // Each pass is one lease; a pass ends without a result only when that
    // lease was lost while waiting, and then a new one queues again (at
    // the back: the old place is gone with the old key).
    for (;;) {
      if (stop.stop_requested()) return with_status(acquire_status::cancelled);
      auto end =
          attempt(c, side, cfg, where, options_, name_, until, mode, stop);
      if (end.result) return std::move(*end.result);
      if (until && steady_clock::now() >= *until) {
        return with_status(acquire_status::timed_out);
      }
      if (options_.on_diagnostic) {
        options_.on_diagnostic("the lease of '" + name_ +
                               "' expired while waiting; queueing again");
      }
    }
  } catch (const call_error& e) {
    if (stop.stop_requested()) return with_status(acquire_status::cancelled);
    return failed("lock", e.code(), e.detail());
  } catch (const filelock::error& e) {
    return failed(e.operation(), e.code(), {});
  } catch (const std::bad_alloc&) {
    return failed("lock", std::make_error_code(std::errc::not_enough_memory),
                  {});
  } catch (const std::exception& e) {
    return failed("lock", make_error_code(errc::bad_reply), e.what());
  }
}

}  // namespace filelock::etcd

namespace filelock::detail {

acquire_result etcd_acquire(const request& r) noexcept {
  etcd::options o;
  try {
    etcd::apply_environment(o);
  } catch (const filelock::error& e) {
    acquire_result failed;
    failed.operation = e.operation();
    failed.error = e.code();
    return failed;
  }
  if (r.options.lifetime) {
    o.lease_ttl =
        std::max(std::chrono::seconds(1),
                 std::chrono::ceil<std::chrono::seconds>(*r.options.lifetime));
  }
  o.command = r.options.command;
  o.owner_pid = r.options.owner_pid;
  o.on_diagnostic = r.options.on_diagnostic;
  etcd::lock l(r.path.string(), std::move(o));
  return std::move(l.acquire_until(r.until, r.mode, r.stop).result);
}

}  // namespace filelock::detail
