// Looking at an etcd lock without taking it, breaking stale contenders,
// and releasing a lock that outlived its guard.
#include <algorithm>
#include <cstdlib>
#include <map>

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

namespace {

// Same host, same boot, and the process is gone or its pid now belongs to
// another process: the conservative rule of soft locks. Another host's
// pid means nothing here, and its lease ends the lock anyway.
std::string judge(const filelock::detail::owner_record& r) {
  if (r.host != platform::host_name()) return {};
  const auto boot = platform::boot_id();
  const auto pid = std::to_string(r.pid);
  if (!r.boot_id.empty() && !boot.empty() && r.boot_id != boot) {
    return "the host has rebooted since process " + pid + " took it";
  }
  switch (platform::process_liveness(r.pid)) {
    case platform::liveness::gone:
      return "process " + pid + " is gone";
    case platform::liveness::unknown:
      return {};
    case platform::liveness::alive:
      break;
  }
  if (!r.start.empty()) {
    auto now_start = platform::process_start(r.pid);
    if (!now_start.empty() && now_start != r.start) {
      return "process " + pid +
             " is gone; its pid now belongs to another "
             "process";
    }
  }
  return {};
}

entry to_entry(const json& j, std::string_view prefix) {
  entry e;
  e.key = base64_decode(j.value("key", ""));
  e.fence = int_field(j, "create_revision");
  e.lease = int_field(j, "lease");
  auto parsed =
      filelock::detail::parse_record(base64_decode(j.value("value", "")));
  if (parsed.record) {
    e.holder = filelock::detail::to_holder(*parsed.record);
    e.stale_reason = judge(*parsed.record);
  } else {
    e.owner_unknown = true;
  }
  e.holder.mode = e.key.substr(prefix.size()).starts_with("r/")
                      ? lock_mode::shared
                      : lock_mode::exclusive;
  if (e.lease == 0) e.stale_reason = "the key has no lease: it never expires";
  return e;
}

// Holders per the recipe: an exclusive key holds when it is the oldest, a
// shared key when no key outside r/ is older, a semaphore's key (n/) when
// no key outside n/ is older and fewer than `slots` n/ keys are. Slot keys
// without a record (the key NAME deleted by hand) are read as one slot.
void place(std::vector<entry>& entries, std::string_view prefix,
           unsigned slots) {
  bool exclusive_seen = false;  // an older key outside r/
  bool plain_seen = false;      // an older key outside n/
  unsigned slot_keys = 0;
  std::size_t waiting = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto& e = entries[i];
    if (e.key.substr(prefix.size()).starts_with("n/")) {
      e.holds = !plain_seen && slot_keys < std::max(1u, slots);
      ++slot_keys;
      exclusive_seen = true;
    } else if (e.holder.mode == lock_mode::shared) {
      e.holds = !exclusive_seen;
      plain_seen = true;
    } else {
      e.holds = i == 0;
      exclusive_seen = true;
      plain_seen = true;
    }
    e.position = e.holds ? 0 : ++waiting;
  }
}

// A semaphore's count from the key NAME, and each holder's slot number
// from the NAME.slot-K key on its lease.
void read_slots(client& c, const location& where, report& rep) {
  auto r = c.call("/v3/kv/range", {{"key", base64_encode(where.name)}});
  auto kvs = r.value("kvs", json::array());
  if (kvs.empty()) return;
  const auto record = filelock::detail::parse_slots_record(
      base64_decode(kvs[0].value("value", "")));
  rep.slots = record ? record->count : 0;
  if (rep.slots == 0) return;
  const std::string stem = where.name + ".slot-";
  auto claims = c.call("/v3/kv/range",
                       {{"key", base64_encode(stem)},
                        {"range_end", base64_encode(detail::prefix_end(stem))},
                        {"keys_only", true}});
  std::map<std::int64_t, unsigned> by_lease;
  for (const auto& j : claims.value("kvs", json::array())) {
    const auto key = base64_decode(j.value("key", ""));
    const auto n = std::strtoul(key.c_str() + stem.size(), nullptr, 10);
    if (n >= 1 && n <= rep.slots) {
      by_lease[int_field(j, "lease")] = static_cast<unsigned>(n);
    }
  }
  for (auto& e : rep.entries) {
    if (e.lease != 0 && by_lease.count(e.lease)) {
      e.slot = by_lease[e.lease];
    }
  }
}

void read_ttls(client& c, std::vector<entry>& entries) {
  std::map<std::int64_t, std::optional<std::chrono::seconds>> ttl;
  for (auto& e : entries) {
    if (e.lease == 0) continue;
    if (!ttl.count(e.lease)) {
      auto r =
          c.call("/v3/lease/timetolive", {{"ID", std::to_string(e.lease)}});
      auto left = int_field(r, "TTL");
      ttl[e.lease] =
          left >= 0 ? std::optional(std::chrono::seconds(left)) : std::nullopt;
    }
    e.ttl_left = ttl[e.lease];
  }
}

template <class F>
auto with_client(std::string_view name, const options& o, F&& f) {
  auto where = parse_name(name, o.endpoints);
  try {
    auto cfg = detail::make_config(where, o);
    client c(cfg);
    return f(c, where);
  } catch (const call_error& e) {
    if (e.code() == errc::curl_unavailable) {
      throw error("load libcurl (" + e.detail() + ") for", std::string(name),
                  e.code());
    }
    throw error("reach etcd (" + e.detail() + ") for", std::string(name),
                e.code());
  }
}

// Revokes the lease the entry was read with, so that only that contender
// goes; a key without a lease is deleted only if it is still the one read.
bool remove(client& c, const entry& e) {
  if (e.lease != 0) {
    try {
      c.call("/v3/lease/revoke", {{"ID", std::to_string(e.lease)}});
      return true;
    } catch (const call_error& err) {
      if (err.grpc_code() == detail::kGrpcNotFound) return false;
      throw;
    }
  }
  auto k = base64_encode(e.key);
  json txn = {{"compare",
               {{{"key", k},
                 {"target", "CREATE"},
                 {"result", "EQUAL"},
                 {"create_revision", std::to_string(e.fence)}}}},
              {"success", {{{"request_delete_range", {{"key", k}}}}}}};
  return c.call("/v3/kv/txn", txn).value("succeeded", false);
}

report inspect_with(client& c, const location& where, std::string_view name) {
  const std::string prefix = where.name + "/";
  json req = {{"key", base64_encode(prefix)},
              {"range_end", base64_encode(detail::prefix_end(prefix))},
              {"sort_order", "ASCEND"},
              {"sort_target", "CREATE"}};
  auto reply = c.call("/v3/kv/range", req);
  report rep;
  rep.name = std::string(name);
  rep.endpoints = where.endpoints;
  rep.revision = int_field(reply.value("header", json::object()), "revision");
  for (const auto& j : reply.value("kvs", json::array())) {
    rep.entries.push_back(to_entry(j, prefix));
  }
  read_slots(c, where, rep);
  place(rep.entries, prefix, rep.slots);
  read_ttls(c, rep.entries);
  if (!rep.entries.empty()) rep.state = lock_state::held;
  for (const auto& e : rep.entries) {
    if (e.holds && !e.stale_reason.empty()) rep.state = lock_state::stale;
  }
  return rep;
}

}  // namespace

report inspect(std::string_view name, const options& o) {
  return with_client(name, o, [&](client& c, const location& where) {
    return inspect_with(c, where, name);
  });
}

break_result break_stale(std::string_view name, const break_options& how,
                         const options& o) {
  return with_client(name, o, [&](client& c, const location& where) {
    break_result out;
    out.before = inspect_with(c, where, name);
    bool unknown = false;
    for (const auto& e : out.before.entries) {
      if (!e.stale_reason.empty() || (how.force && e.holds)) {
        out.broken.push_back(e);
      } else if (e.holds && e.owner_unknown) {
        unknown = true;
      }
    }
    if (out.broken.empty()) {
      out.outcome = out.before.entries.empty() ? break_outcome::nothing_to_do
                    : unknown                  ? break_outcome::refused_unknown
                                               : break_outcome::refused_live;
      return out;
    }
    if (how.dry_run) {
      out.outcome = break_outcome::would_remove;
      return out;
    }
    std::vector<entry> removed;
    for (const auto& e : out.broken) {
      if (remove(c, e)) removed.push_back(e);
    }
    out.outcome =
        removed.empty() ? break_outcome::lost_race : break_outcome::removed;
    out.broken = std::move(removed);
    return out;
  });
}

release_outcome release_key(std::string_view name, std::string_view key,
                            std::optional<std::int64_t> owner_pid, bool force,
                            const options& o) {
  return with_client(name, o, [&](client& c, const location& where) {
    const std::string prefix = where.name + "/";
    if (!key.starts_with(prefix)) {
      throw error("release", std::string(key), make_error_code(errc::bad_name));
    }
    auto r = c.call("/v3/kv/range", {{"key", base64_encode(key)}});
    auto kvs = r.value("kvs", json::array());
    if (kvs.empty()) return release_outcome::not_held;
    auto e = to_entry(kvs[0], prefix);
    if (!force && owner_pid &&
        (e.owner_unknown || e.holder.pid != *owner_pid)) {
      return release_outcome::not_owner;
    }
    return remove(c, e) ? release_outcome::released : release_outcome::not_held;
  });
}

}  // namespace filelock::etcd
