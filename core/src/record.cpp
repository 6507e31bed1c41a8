#include "record.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>

namespace filelock::detail {
namespace {

using json = nlohmann::json;
using namespace std::chrono;

// A lifetime longer than this is a typo, not a lease (about 30 years).
constexpr double kMaxLifetimeSeconds = 1e9;

// Reads a run of exactly n digits at s[pos], advancing pos.
std::optional<int> take_digits(std::string_view s, std::size_t& pos,
                               std::size_t n) {
  if (pos + n > s.size() || !all_digits(s.substr(pos, n))) return {};
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v * 10 + (s[pos + i] - '0');
  pos += n;
  return v;
}

bool take_char(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

// A string field: absent is allowed only when `required` is false.
bool read_string(const json& j, const char* key, bool required,
                 std::string& out, std::string& error) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (required) error = std::string("no \"") + key + "\" field";
    return !required;
  }
  if (!it->is_string()) {
    error = std::string("\"") + key + "\" is not a string";
    return false;
  }
  out = it->get<std::string>();
  return true;
}

bool read_pid(const json& j, const char* key, std::int64_t& pid,
              std::string& error) {
  auto it = j.find(key);
  const auto name = std::string("\"") + key + "\"";
  if (it == j.end() || !it->is_number_integer()) {
    error = "no integer " + name + " field";
    return false;
  }
  if (it->is_number_unsigned() &&
      it->get<std::uint64_t>() >
          static_cast<std::uint64_t>(
              std::numeric_limits<std::int64_t>::max())) {
    error = name + " is out of range";
    return false;
  }
  pid = it->get<std::int64_t>();
  if (pid <= 0) {
    error = name + " is not positive";
    return false;
  }
  return true;
}

// "keeper": {"pid": N, "start": "..."}, optional.
bool read_keeper(const json& j, owner_record& r, std::string& error) {
  auto it = j.find("keeper");
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_object()) {
    error = "\"keeper\" is not an object";
    return false;
  }
  if (!read_pid(*it, "pid", r.keeper_pid, error) ||
      !read_string(*it, "start", false, r.keeper_start, error)) {
    error = "in \"keeper\": " + error;
    return false;
  }
  if (!r.keeper_start.empty() && !all_digits(r.keeper_start)) {
    error = "in \"keeper\": \"start\" is not a number";
    return false;
  }
  return true;
}

bool read_lifetime(const json& j, owner_record& r, std::string& error) {
  auto it = j.find("lifetime");
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_number()) {
    error = "\"lifetime\" is not a number";
    return false;
  }
  const double s = it->get<double>();
  if (!std::isfinite(s) || s < 0 || s > kMaxLifetimeSeconds) {
    error = "\"lifetime\" is out of range";
    return false;
  }
  r.lifetime = milliseconds(static_cast<std::int64_t>(std::llround(s * 1000)));
  return true;
}

parse_result parse_json(std::string_view text) {
  parse_result out;
  auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    out.error = "not a filelock owner record: not a JSON object";
    return out;
  }
  auto version = j.find("filelock");
  if (version == j.end() || !version->is_number_integer() ||
      version->get<std::int64_t>() != kRecordVersion) {
    out.error = "not a filelock owner record: no \"filelock\":1 field";
    return out;
  }

  owner_record r;
  std::string error, since, mode;
  bool ok = read_pid(j, "pid", r.pid, error) &&
            read_string(j, "host", true, r.host, error) &&
            read_string(j, "token", true, r.token, error) &&
            read_string(j, "start", false, r.start, error) &&
            read_string(j, "boot_id", false, r.boot_id, error) &&
            read_string(j, "since", false, since, error) &&
            read_string(j, "mode", false, mode, error) &&
            read_string(j, "command", false, r.command, error) &&
            read_lifetime(j, r, error) && read_keeper(j, r, error);
  if (ok && r.host.empty()) {
    error = "empty \"host\"";
    ok = false;
  }
  if (ok && !is_token(r.token)) {
    error = "\"token\" is not 1 to 64 letters, digits, '-' or '_'";
    ok = false;
  }
  if (ok && !r.start.empty() && !all_digits(r.start)) {
    error = "\"start\" is not a number";
    ok = false;
  }
  if (ok && !since.empty() && !(r.since = parse_time(since))) {
    error = "\"since\" is not an RFC 3339 time";
    ok = false;
  }
  if (ok && !mode.empty() && mode != "exclusive" && mode != "shared") {
    error = "\"mode\" is neither exclusive nor shared";
    ok = false;
  }
  if (!ok) {
    out.error = "bad filelock owner record: " + error;
    return out;
  }
  r.mode = mode == "shared" ? lock_mode::shared : lock_mode::exclusive;
  out.record = std::move(r);
  return out;
}

// "PID\nHOST\n" with an optional third line (a start token), as newer
// Python filelock soft locks write them; the last newline is optional.
parse_result parse_python(std::string_view text) {
  parse_result out;
  std::string_view lines[3];
  std::size_t n = 0;
  while (!text.empty()) {
    if (n == 3) {
      out.error = "not a filelock owner record: too many lines";
      return out;
    }
    auto nl = text.find('\n');
    lines[n++] = text.substr(0, nl);
    text =
        nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  if (n < 2 || !all_digits(lines[0]) || lines[0].size() > 18 ||
      lines[1].empty()) {
    out.error = "not a filelock owner record";
    return out;
  }
  for (char c : lines[1]) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) {
      out.error = "not a filelock owner record: bad host name";
      return out;
    }
  }
  owner_record r;
  r.origin = owner_record::format::python;
  r.pid = std::stoll(std::string(lines[0]));
  if (r.pid <= 0) {
    out.error = "not a filelock owner record: pid is not positive";
    return out;
  }
  r.host = std::string(lines[1]);
  out.record = std::move(r);
  return out;
}

}  // namespace

std::string format_time(wall_time t) {
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
      static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
      static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
      static_cast<int>(hms.minutes().count()),
      static_cast<int>(hms.seconds().count()),
      static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::optional<wall_time> parse_time(std::string_view s) {
  std::size_t p = 0;
  auto y = take_digits(s, p, 4);
  if (!y || !take_char(s, p, '-')) return {};
  auto mo = take_digits(s, p, 2);
  if (!mo || !take_char(s, p, '-')) return {};
  auto d = take_digits(s, p, 2);
  if (!d || !(take_char(s, p, 'T') || take_char(s, p, 't'))) return {};
  auto h = take_digits(s, p, 2);
  if (!h || !take_char(s, p, ':')) return {};
  auto mi = take_digits(s, p, 2);
  if (!mi || !take_char(s, p, ':')) return {};
  auto sec = take_digits(s, p, 2);
  if (!sec || *h > 23 || *mi > 59 || *sec > 60) return {};

  nanoseconds frac{0};
  if (take_char(s, p, '.')) {
    const auto start = p;
    std::int64_t scale = 100'000'000;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      frac += nanoseconds((s[p] - '0') * scale);
      scale /= 10;
      ++p;
    }
    if (p == start) return {};
  }
  minutes offset{0};
  if (!(take_char(s, p, 'Z') || take_char(s, p, 'z'))) {
    int sign = take_char(s, p, '+') ? 1 : take_char(s, p, '-') ? -1 : 0;
    auto oh = take_digits(s, p, 2);
    if (sign == 0 || !oh || !take_char(s, p, ':')) return {};
    auto om = take_digits(s, p, 2);
    if (!om) return {};
    offset = minutes(sign * (*oh * 60 + *om));
  }
  if (p != s.size()) return {};

  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return {};
  auto t = sys_days{ymd} + hours{*h} + minutes{*mi} + seconds{*sec} - offset;
  // The wall clock counts nanoseconds in 64 bits (years 1678 to 2261 on
  // Linux): a time outside that, which any year of four digits can give,
  // would overflow in the conversion. Compared in seconds, which cannot.
  const auto lo = ceil<seconds>(wall_time::min()) + seconds(1);
  const auto hi = floor<seconds>(wall_time::max()) - seconds(1);
  if (t < lo || t > hi) return {};
  return time_point_cast<wall_time::duration>(t + frac);
}

std::string to_json(const owner_record& r) {
  // Insertion order, so that a person reading it with cat sees the
  // format version and the owner first.
  nlohmann::ordered_json j;
  j["filelock"] = kRecordVersion;
  j["pid"] = r.pid;
  if (!r.start.empty()) j["start"] = r.start;
  if (!r.boot_id.empty()) j["boot_id"] = r.boot_id;
  j["host"] = r.host;
  if (r.since) j["since"] = format_time(*r.since);
  if (r.lifetime) {
    j["lifetime"] = static_cast<double>(r.lifetime->count()) / 1000.0;
  }
  j["token"] = r.token;
  j["mode"] = std::string(to_string(r.mode));
  if (!r.command.empty()) j["command"] = r.command;
  if (r.keeper_pid > 0) {
    nlohmann::ordered_json k;
    k["pid"] = r.keeper_pid;
    if (!r.keeper_start.empty()) k["start"] = r.keeper_start;
    j["keeper"] = std::move(k);
  }
  // Invalid UTF-8 in a command line is replaced rather than refused: the
  // record must always be writable, and the command is only shown.
  return j.dump(-1, ' ', false,
                nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

parse_result parse_record(std::string_view text) {
  parse_result out;
  if (text.size() > kMaxRecordSize) {
    out.error = "owner record larger than 64 KiB";
    return out;
  }
  if (text.empty()) {
    out.error = "empty marker";
    return out;
  }
  auto first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    return parse_json(text);
  }
  return parse_python(text);
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_token(std::string_view text) noexcept {
  if (text.empty() || text.size() > 64) return false;
  for (char c : text) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                    (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

holder_info to_holder(const owner_record& r) {
  holder_info h;
  h.pid = r.pid;
  h.host = r.host;
  h.command = r.command;
  h.since = r.since;
  h.mode = r.mode;
  h.token = r.token;
  h.boot_id = r.boot_id;
  h.keeper_pid = r.keeper_pid;
  return h;
}

}  // namespace filelock::detail
