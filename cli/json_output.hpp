// The JSON that status, break-stale, acquire and release print with
// --json, and the text forms of the same facts. Schema: filelock-status(1).
//
// Strings are UTF-8. Lock paths are bytes on POSIX and need not be UTF-8:
// a path that is not valid UTF-8 is printed with each offending byte
// replaced by U+FFFD under "path", and its exact bytes in "path_hex" (two
// lowercase hex digits per byte), so that a program can recover it. Other
// text (host names, command lines, messages) gets the U+FFFD replacement
// only.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "exit_codes.hpp"
#include "filelock/inspect.hpp"
#include "filelock/lock.hpp"

namespace filelock::cli {

using json = nlohmann::ordered_json;

// Schema version of every document we print; bumped on incompatible
// changes only (new fields are not incompatible).
inline constexpr int kJsonSchemaVersion = 1;

// "2026-12-03T19:05:04Z": RFC 3339, UTC, whole seconds.
std::string rfc3339(std::chrono::system_clock::time_point t);

// Sets obj["path"], and obj["path_hex"] when the path is not UTF-8.
void put_path(json& obj, const std::filesystem::path& path);

json holder_json(const holder_info& h);

// path, state, kind, mode, holders, stale_reason, owner_unknown,
// record_error, record_format.
json report_json(const lock_report& r);

// The stable name of an error status for "error": {"code": ...}.
std::string_view error_name(exit_code code);

json error_json(exit_code code, const std::string& message);

// One document on stdout, invalid UTF-8 replaced (see above), newline.
void print_json(const json& doc);

// text with control characters (newlines of `sh -c` scripts, escapes)
// blanked, so that it stays on its line.
std::string one_line(std::string text);

// "pid 4242 on build7 (make install), since 2026-12-03T19:05:04Z": who a
// holder is, in one line for messages.
std::string describe_owner(const holder_info& h);

}  // namespace filelock::cli
