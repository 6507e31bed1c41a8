// The lock recipe on etcd's transactions, ranges, leases and watches; see
// etcd.hpp for the algorithm and its guarantees.
#include <optional>
#include <utility>

#include "etcd/backend_etcd.hpp"
#include "etcd/client.hpp"
#include "etcd/session.hpp"
#include "platform.hpp"
#include "record.hpp"
#include "slots.hpp"

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
constexpr std::string_view kSlotsDir = "n/";

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

// The keys older than myrev, newest first.
json older_keys(const std::string& prefix, std::int64_t myrev) {
  auto req = range_request(prefix);
  req["sort_order"] = "DESCEND";
  req["keys_only"] = true;
  req["max_create_revision"] = std::to_string(myrev - 1);
  return req;
}

blocker_view find_blocker(client& c, const std::string& prefix,
                          std::int64_t myrev, lock_mode mode) {
  auto req = older_keys(prefix, myrev);
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

json compare_created(const std::string& key, std::int64_t rev) {
  return {{"key", base64_encode(key)},
          {"target", "CREATE"},
          {"result", "EQUAL"},
          {"create_revision", std::to_string(rev)}};
}

bool still_mine(client& c, const std::string& key, std::int64_t myrev) {
  json txn = {{"compare", json::array({compare_created(key, myrev)})}};
  return c.call("/v3/kv/txn", txn).value("succeeded", false);
}

enum class wait_end { gone, stopped, timed_out, lost };

// Waits until one of `keys` (the blockers) is deleted: one stream
// carrying one watch per key, each from the revision after the read that
// found them, so a deletion in between is replayed, not missed. Once every
// watch exists the keys are checked once more, in one transaction,
// because an event from before a watch's creation is delivered only on
// etcd's 100 ms resync.
wait_end wait_for_any_delete(client& c, client& side,
                             const std::vector<kv>& keys, std::int64_t from,
                             const deadline& until, const std::stop_token& stop,
                             const session& s) {
  json body = json::array();
  json all_there = {{"compare", json::array()}};
  for (const auto& k : keys) {
    body.push_back({{"create_request",
                     {{"key", base64_encode(k.key)},
                      {"start_revision", std::to_string(from)},
                      {"filters", {"NOPUT"}}}}});
    all_there["compare"].push_back(compare_created(k.key, k.fence));
  }
  bool gone = false;
  std::size_t created = 0;
  auto on_message = [&](const json& m) {
    if (m.value("canceled", false)) return false;  // compacted: re-read
    if (m.value("created", false) && ++created == keys.size()) {
      gone = !side.call("/v3/kv/txn", all_there).value("succeeded", false);
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
  auto out = c.stream("/v3/watch", body, on_message, stop_check,
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

// ---- Semaphores (options::slots; the rules are in etcd.hpp) ----
//
// Why the count N lives in a key of its own (NAME) and not in every
// contender's value, as Consul's semaphore keeps it: contenders that
// compare their N with the values they see cannot exclude each other's
// mistakes. A (N=2) and B (N=3) enqueue; C (N=2) joins, judging by the
// oldest key, A; A leaves; B, slow, now finds itself oldest and keeps N=3;
// the name then has holders counting to 2 and to 3, and three run where
// two were promised. One record, created if absent in the transaction
// that creates the first key and compared by its mod revision in the one
// that adds each later key, gives every contender the same N.
//
// Why the record is never removed by us: "one name, one N" then holds for
// good, as for the local semaphore's file, so a second script with
// another N fails on its first run rather than only when it happens to
// overlap with the first. Removing it with the last holder could not be
// done by a holder that dies anyway. The record is attached to no lease;
// status shows it, and deleting the key NAME while nothing uses the
// semaphore is how N is changed (documented in filelock-etcd(1)).

bool is_slot_key(std::string_view prefix, std::string_view key) {
  return key.substr(prefix.size()).starts_with(kSlotsDir);
}

std::string slots_record(unsigned slots) {
  return json{{"filelock", 1}, {"slots", slots}}.dump();
}

struct slot_join {
  std::int64_t myrev = 0;  // 0: not joined, see recorded
  unsigned recorded = 0;   // the other N (0: NAME is no record)
};

// Creates my key under the record of `slots`: creates the record too when
// there is none, otherwise only while the record read still stands.
slot_join enqueue_slot(client& c, const std::string& record_key,
                       const std::string& key, const std::string& value,
                       std::int64_t lease, unsigned slots) {
  const auto rec = base64_encode(record_key);
  const json put_mine = {{"request_put",
                          {{"key", base64_encode(key)},
                           {"value", base64_encode(value)},
                           {"lease", std::to_string(lease)}}}};
  // Bounded: each round fails only when the record was created, changed
  // or removed since it was read, by someone else's acquire or an operator.
  for (int round = 0; round < 16; ++round) {
    json create = {
        {"compare", json::array({compare_created(record_key, 0)})},
        {"success",
         json::array({json{{"request_put",
                            {{"key", rec},
                             {"value", base64_encode(slots_record(slots))}}}},
                      put_mine})},
        {"failure", json::array({json{{"request_range", {{"key", rec}}}}})}};
    auto reply = c.call("/v3/kv/txn", create);
    if (reply.value("succeeded", false)) {
      return {int_field(reply["header"], "revision"), 0};
    }
    auto responses = reply.value("responses", json::array());
    if (responses.size() != 1) {
      throw call_error(make_error_code(errc::bad_reply),
                       "enqueue: the transaction answered no range");
    }
    auto kvs = responses[0]
                   .value("response_range", json::object())
                   .value("kvs", json::array());
    if (kvs.empty()) continue;  // removed since: create it
    const auto record = filelock::detail::parse_slots_record(
        base64_decode(kvs[0].value("value", "")));
    const unsigned recorded = record ? record->count : 0;
    if (recorded != slots) return {0, recorded};
    json join = {
        {"compare",
         json::array({json{{"key", rec},
                           {"target", "MOD"},
                           {"result", "EQUAL"},
                           {"mod_revision", std::to_string(int_field(
                                                kvs[0], "mod_revision"))}}})},
        {"success", json::array({put_mine})}};
    auto joined = c.call("/v3/kv/txn", join);
    if (joined.value("succeeded", false)) {
      return {int_field(joined["header"], "revision"), 0};
    }
  }
  throw call_error(
      make_error_code(errc::server_error),
      "the slot count recorded in " + record_key + " keeps changing");
}

// What stands between a semaphore contender and a slot: the keys to
// watch (empty: it holds one).
struct slot_view {
  std::vector<kv> watch;
  std::int64_t revision = 0;
};

slot_view find_slot_blockers(client& c, const std::string& prefix,
                             std::int64_t myrev, unsigned slots) {
  auto reply = c.call("/v3/kv/range", older_keys(prefix, myrev));
  slot_view v;
  v.revision = int_field(reply.value("header", json::object()), "revision");
  std::vector<kv> nearest;
  for (auto& k : read_kvs(reply)) {
    if (k.fence >= myrev) continue;
    if (!is_slot_key(prefix, k.key)) {
      // The newest older plain key: nothing is granted while it exists.
      v.watch = {std::move(k)};
      return v;
    }
    if (nearest.size() < slots) nearest.push_back(std::move(k));
  }
  // Fewer than N older slot keys: a slot is ours. Otherwise the N nearest
  // (newest first) are what keeps us waiting; see etcd.hpp.
  if (nearest.size() >= slots) v.watch = std::move(nearest);
  return v;
}

// The lowest number among NAME.slot-1 ... NAME.slot-N that no holder has
// claimed, claimed with a key on our lease (created only if absent), so
// that concurrent holders never share a number: the count alone (our
// rank) would give the holder after a release the number of one still
// running. At most N holders exist, so a number is free, except while a
// holder whose key was deleted has not yet revoked its lease; then wait
// for its claim to go. nullopt: the wait ended (stop, deadline, loss).
std::optional<unsigned> claim_slot(client& c, client& side,
                                   const std::string& name, unsigned slots,
                                   const std::string& key,
                                   const deadline& until,
                                   const std::stop_token& stop,
                                   const session& s) {
  const std::string stem = name + ".slot-";
  for (;;) {
    auto r = c.call("/v3/kv/range",
                    {{"key", base64_encode(stem)},
                     {"range_end", base64_encode(detail::prefix_end(stem))},
                     {"keys_only", true}});
    std::vector<bool> taken(slots + 1, false);
    std::vector<kv> claims;
    for (auto& k : read_kvs(r)) {
      const auto digits = std::string_view(k.key).substr(stem.size());
      const auto n = std::strtoul(std::string(digits).c_str(), nullptr, 10);
      if (n >= 1 && n <= slots) taken[n] = true;
      claims.push_back(std::move(k));
    }
    bool raced = false;
    for (unsigned n = 1; n <= slots && !raced; ++n) {
      if (taken[n]) continue;
      const auto claim = stem + std::to_string(n);
      json txn = {
          {"compare", json::array({compare_created(claim, 0)})},
          {"success",
           json::array({json{{"request_put",
                              {{"key", base64_encode(claim)},
                               {"value", base64_encode(key)},
                               {"lease", std::to_string(s.lease())}}}}})}};
      if (c.call("/v3/kv/txn", txn).value("succeeded", false)) return n;
      raced = true;  // another holder took it first: read again
    }
    if (raced) continue;
    const auto rev = int_field(r.value("header", json::object()), "revision");
    if (wait_for_any_delete(c, side, claims, rev + 1, until, stop, s) !=
        wait_end::gone) {
      return std::nullopt;
    }
  }
}

// The oldest contender's owner, for the busy and timeout messages.
std::optional<holder_info> oldest_holder(client& c, const std::string& prefix) {
  auto req = range_request(prefix);
  req["limit"] = "1";
  auto kvs = read_kvs(c.call("/v3/kv/range", req));
  if (kvs.empty()) return std::nullopt;
  return holder_from(kvs[0]);
}

struct attempt_end {
  std::optional<acquired> result;  // empty: lease lost while waiting, retry
};

// The contender holds: its key is watched from now on, and the guard
// takes the session (s is left empty only once nothing can throw).
attempt_end now_holding(std::shared_ptr<session>& s) {
  s->start_holding();
  acquired a;
  a.result.status = acquire_status::acquired;
  a.monitor = s->monitor();
  a.result.lock = guard(std::move(s));
  return {std::move(a)};
}

acquired mismatch(unsigned recorded) {
  auto a = failed("lock", make_error_code(filelock::errc::slots_mismatch), {});
  a.recorded_slots = recorded;
  return a;
}

attempt_end attempt_slots(client& c, client& side,
                          const std::shared_ptr<detail::config>& cfg,
                          const location& where, const options& o,
                          const std::string& lock_name, const deadline& until,
                          const std::stop_token& stop) {
  auto s =
      std::make_shared<session>(c, cfg, o, lock_name, lock_mode::exclusive);
  try {
    const std::string prefix = where.name + "/";
    const std::string key =
        prefix + std::string(kSlotsDir) + detail::lease_hex(s->lease());
    const auto joined = enqueue_slot(
        c, where.name, key,
        record_for(o, lock_mode::exclusive, s->lease(), s->monitor()->ttl()),
        s->lease(), o.slots);
    if (joined.myrev == 0) {
      s->abandon();
      return {mismatch(joined.recorded)};
    }
    const auto myrev = joined.myrev;
    s->set_key(key, myrev);

    auto give_up = [&](acquire_status st) -> attempt_end {
      std::optional<holder_info> who;
      if (st != acquire_status::cancelled) who = oldest_holder(side, prefix);
      s->abandon();
      return {with_status(st, std::move(who))};
    };
    bool waited = false;
    for (;;) {
      auto view = find_slot_blockers(c, prefix, myrev, o.slots);
      if (view.watch.empty()) break;
      if (until && steady_clock::now() >= *until) {
        return give_up(waited ? acquire_status::timed_out
                              : acquire_status::busy);
      }
      waited = true;
      const auto end = wait_for_any_delete(c, side, view.watch,
                                           view.revision + 1, until, stop, *s);
      if (end == wait_end::stopped) return give_up(acquire_status::cancelled);
      if (end == wait_end::timed_out) return give_up(acquire_status::timed_out);
      if (end == wait_end::lost) break;  // the check below decides
    }

    // As for the lock: only a key that still carries our create revision
    // holds a slot (the lease may have expired while we waited).
    if (s->monitor()->lost() || !still_mine(c, key, myrev)) {
      s->abandon();
      return {};
    }
    const auto number =
        claim_slot(c, side, where.name, o.slots, key, until, stop, *s);
    if (!number) {
      if (stop.stop_requested()) return give_up(acquire_status::cancelled);
      if (s->monitor()->lost()) {
        s->abandon();
        return {};
      }
      return give_up(acquire_status::timed_out);
    }
    s->set_slot(*number);
    return now_holding(s);
  } catch (...) {
    s->abandon();
    throw;
  }
}

attempt_end attempt(client& c, client& side,
                    const std::shared_ptr<detail::config>& cfg,
                    const location& where, const options& o,
                    const std::string& lock_name, const deadline& until,
                    lock_mode mode, const std::stop_token& stop) {
  if (o.slots > 0) {
    return attempt_slots(c, side, cfg, where, o, lock_name, until, stop);
  }
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
      auto end = wait_for_any_delete(c, side, {*view.blocker},
                                     view.revision + 1, until, stop, *s);
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
    return now_holding(s);
  } catch (...) {
    s->abandon();
    throw;
  }
}

}  // namespace

lock::lock(std::string name, options o)
    : name_(std::move(name)), options_(std::move(o)) {}

acquired lock::acquire_until(deadline until, lock_mode mode,
                             const std::stop_token& stop) noexcept {
  try {
    if (options_.slots > 0 &&
        (options_.slots > kMaxSlots || mode != lock_mode::exclusive)) {
      return failed("lock", make_error_code(filelock::errc::slots_unsupported),
                    {});
    }
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
  o.slots = r.options.slots.value_or(0);
  o.owner_pid = r.options.owner_pid;
  o.on_diagnostic = r.options.on_diagnostic;
  etcd::lock l(r.path.string(), std::move(o));
  return std::move(l.acquire_until(r.until, r.mode, r.stop).result);
}

}  // namespace filelock::detail
