// Helpers shared by the Win32 backend files: text and path conversion,
// error codes, and the LockFileEx wait.
#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <filesystem>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>

#include "filelock/lock.hpp"
#include "platform.hpp"

namespace filelock::detail::win32 {

// UTF-16 <-> UTF-8; invalid sequences become U+FFFD.
std::string narrow(std::wstring_view text);
std::wstring widen(std::string_view text);

// The error as callers see it: its errno equivalent where there is one.
std::error_code error_code_of(DWORD err) noexcept;
inline std::error_code last_error() noexcept {
  return error_code_of(GetLastError());
}

// The NTSTATUS behind the last failed call of this thread, which tells
// apart causes that GetLastError() folds together. 0 when unavailable.
long last_nt_status() noexcept;
constexpr long kStatusDeletePending = static_cast<long>(0xC0000056L);

// The path in the form CreateFileW takes without the MAX_PATH limit:
// made absolute, then prefixed with \\?\ (or \\?\UNC\ for a share).
// Paths that already use a \\?\ or \\.\ prefix are kept as they are.
std::wstring wide_path(const std::filesystem::path& path, std::error_code& ec);

inline platform::file_id id_of(const BY_HANDLE_FILE_INFORMATION& info) {
  return {info.dwVolumeSerialNumber,
          (std::uint64_t{info.nFileIndexHigh} << 32) | info.nFileIndexLow};
}

// True under Wine, whose NtLockFile does not implement lock waits on
// handles opened for overlapped I/O (a FIXME in dlls/ntdll/unix/file.c up
// to Wine 11 at least): the request stays pending forever.
bool running_under_wine() noexcept;

enum class try_result { granted, busy, failed };

// One LockFileEx attempt on byte 0 that never waits.
try_result try_lock(HANDLE h, DWORD flags, std::error_code& ec) noexcept;

// Waits for the lock on byte 0 until it is granted, until passes or stop
// fires. A lock granted while the wait was being abandoned is kept.
platform::wait_status wait_lock(HANDLE h, DWORD flags, const deadline& until,
                                const std::stop_token& stop,
                                std::error_code& ec) noexcept;

}  // namespace filelock::detail::win32
