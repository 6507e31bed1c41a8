#include "json_output.hpp"

#include <cstdio>
#include <ctime>
#include <iostream>

namespace filelock::cli {
namespace {

bool is_utf8(const std::string& s) {
  // nlohmann's serializer validates strictly (RFC 3629: no surrogates, no
  // overlong forms) and throws type_error 316 on the first bad byte: the
  // same rule the final dump applies, so the two can never disagree.
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

std::string hex_bytes(const std::string& s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

json text_or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

json time_or_null(
    const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? json(rfc3339(*t)) : json(nullptr);
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(
      std::chrono::floor<std::chrono::seconds>(t));
  std::tm utc{};
#if defined(_WIN32)
  gmtime_s(&utc, &secs);
#else
  gmtime_r(&secs, &utc);
#endif
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

void put_path(json& obj, const std::filesystem::path& path) {
  const std::string bytes = path.string();
  obj["path"] = bytes;
  if (!is_utf8(bytes)) obj["path_hex"] = hex_bytes(bytes);
}

json holder_json(const holder_info& h) {
  return {
      {"pid", h.pid > 0 ? json(h.pid) : json(nullptr)},
      {"host", text_or_null(h.host)},
      {"command", text_or_null(h.command)},
      {"since", time_or_null(h.since)},
      {"mode", to_string(h.mode)},
      {"expires", time_or_null(h.expires)},
      {"keeper_pid", h.keeper_pid > 0 ? json(h.keeper_pid) : json(nullptr)},
  };
}

json report_json(const lock_report& r) {
  json obj = json::object();
  put_path(obj, r.path);
  obj["state"] = to_string(r.state);
  obj["kind"] = to_string(r.kind);
  obj["mode"] =
      r.state == lock_state::free ? json(nullptr) : json(to_string(r.mode));
  obj["holders"] = json::array();
  for (const auto& h : r.holders) obj["holders"].push_back(holder_json(h));
  obj["stale_reason"] = text_or_null(r.stale_reason);
  obj["owner_unknown"] = r.owner_unknown;
  obj["record_error"] = text_or_null(r.record_error);
  obj["record_format"] = text_or_null(r.record_format);
  obj["slots"] = r.slots > 0 ? json(r.slots) : json(nullptr);
  obj["slot_list"] = json::array();
  for (const auto& s : r.slot_list) {
    json slot = {{"slot", s.number},
                 {"state", s.held    ? "held"
                           : s.stale ? "stale"
                                     : "free"},
                 {"holder", s.holder ? holder_json(*s.holder) : json(nullptr)}};
    // Soft semaphores only: why a slot's marker is stale.
    if (r.kind == lock_kind::soft) {
      slot["stale_reason"] = text_or_null(s.stale_reason);
    }
    obj["slot_list"].push_back(std::move(slot));
  }
  obj["queue"] = json::array();
  for (const auto& q : r.queue) {
    auto entry = holder_json(q.waiter);
    entry["ticket"] = q.ticket;
    obj["queue"].push_back(std::move(entry));
  }
  return obj;
}

std::string_view error_name(exit_code code) {
  switch (code) {
    case exit_code::usage:
      return "usage";
    case exit_code::cannot_open:
      return "cannot_open";
    case exit_code::unavailable:
      return "unavailable";
    case exit_code::cannot_create:
      return "cannot_create";
    case exit_code::io_error:
      return "io_error";
    case exit_code::busy:
      return "busy";
    case exit_code::no_permission:
      return "no_permission";
    case exit_code::lock_lost:
      return "lock_lost";
    default:
      return "internal";
  }
}

json error_json(exit_code code, const std::string& message) {
  return {{"code", error_name(code)}, {"message", message}};
}

void print_json(const json& doc) {
  std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << '\n'
            << std::flush;
}

std::string one_line(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

std::string describe_owner(const holder_info& h) {
  std::string s = h.pid > 0 ? "pid " + std::to_string(h.pid) : "pid ?";
  if (!h.host.empty()) s += " on " + h.host;
  if (!h.command.empty()) s += " (" + one_line(h.command) + ")";
  if (h.since) s += ", since " + rfc3339(*h.since);
  return s;
}

}  // namespace filelock::cli
