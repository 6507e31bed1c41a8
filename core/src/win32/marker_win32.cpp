// Windows file operations of the soft lock (see soft_lock.cpp for how they
// are combined). Every open shares read, write and delete, so that a
// breaker can remove a marker that its owner still has open.
#include <algorithm>

#include "record.hpp"
#include "win32/win32.hpp"

namespace filelock::detail::platform {
namespace {

using win32::last_error;
using win32::wide_path;

constexpr DWORD kShareAll =
    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

HANDLE as_handle(const file_handle& h) {
  return reinterpret_cast<HANDLE>(h.get());
}

// A name that is gone, or going: deleted but still open somewhere (delete
// pending), which is the same as gone for everyone who looks by name.
bool is_gone(DWORD err) {
  return err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND ||
         (err == ERROR_ACCESS_DENIED &&
          win32::last_nt_status() == win32::kStatusDeletePending);
}

std::chrono::system_clock::time_point time_of(const FILETIME& ft) {
  constexpr std::uint64_t kEpochOffset = 116444736000000000ULL;
  const auto t = (std::uint64_t{ft.dwHighDateTime} << 32) | ft.dwLowDateTime;
  const auto ticks = static_cast<std::int64_t>(t - std::min(t, kEpochOffset));
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>(
              ticks)));
}

// Writes at explicit offsets through an OVERLAPPED, which works for
// handles opened either way (the lock files are overlapped).
bool write_at(HANDLE h, std::string_view data, std::error_code& ec) {
  std::uint64_t at = 0;
  while (!data.empty()) {
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(at);
    ov.OffsetHigh = static_cast<DWORD>(at >> 32);
    const auto chunk =
        static_cast<DWORD>(std::min<std::size_t>(data.size(), 1 << 20));
    DWORD n = 0;
    BOOL ok = WriteFile(h, data.data(), chunk, &n, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING) {
      ok = GetOverlappedResult(h, &ov, &n, TRUE);
    }
    if (!ok || n == 0) {
      ec = ok ? std::make_error_code(std::errc::no_space_on_device)
              : last_error();
      return false;
    }
    data.remove_prefix(n);
    at += n;
  }
  return true;
}

bool read_at_most(HANDLE h, std::size_t limit, std::string& out, failure& why) {
  out.assign(limit, '\0');
  std::size_t got = 0;
  while (got < limit) {
    OVERLAPPED ov{};
    ov.Offset = static_cast<DWORD>(got);
    DWORD n = 0;
    BOOL ok =
        ReadFile(h, out.data() + got, static_cast<DWORD>(limit - got), &n, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING) {
      ok = GetOverlappedResult(h, &ov, &n, TRUE);
    }
    if (!ok && GetLastError() == ERROR_HANDLE_EOF) break;
    if (!ok) {
      why = {"read", last_error()};
      return false;
    }
    if (n == 0) break;
    got += n;
  }
  out.resize(got);
  return true;
}

HANDLE open_existing(const std::wstring& wpath, DWORD access, DWORD flags) {
  return CreateFileW(wpath.c_str(), access, kShareAll, nullptr, OPEN_EXISTING,
                     flags | FILE_FLAG_OPEN_REPARSE_POINT, nullptr);
}

}  // namespace

read_status read_marker(const std::filesystem::path& path, marker_state& out,
                        failure& why) noexcept try {
  std::error_code ec;
  const auto wpath = wide_path(path, ec);
  if (ec) {
    why = {"open", ec};
    return read_status::failed;
  }
  HANDLE raw = open_existing(wpath, GENERIC_READ, 0);
  if (raw == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (is_gone(err)) return read_status::missing;
    why = {"open", win32::error_code_of(err)};
    return read_status::failed;
  }
  file_handle h(reinterpret_cast<std::intptr_t>(raw));
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(raw, &info)) {
    why = {"stat", last_error()};
    return read_status::failed;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
    why = {"open", make_error_code(errc::symlink_refused)};
    return read_status::failed;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
    why = {"read", std::make_error_code(std::errc::is_a_directory)};
    return read_status::failed;
  }
  if (GetFileType(raw) != FILE_TYPE_DISK) {
    why = {"read", make_error_code(errc::not_a_regular_file)};
    return read_status::failed;
  }
  out.id = win32::id_of(info);
  out.mtime = time_of(info.ftLastWriteTime);
  const auto size =
      (std::uint64_t{info.nFileSizeHigh} << 32) | info.nFileSizeLow;
  out.oversized = size > kMaxRecordSize;
  out.content.clear();
  if (out.oversized) return read_status::ok;
  if (!read_at_most(raw, kMaxRecordSize + 1, out.content, why)) {
    return read_status::failed;
  }
  if (out.content.size() > kMaxRecordSize) {
    out.oversized = true;
    out.content.resize(kMaxRecordSize);
  }
  return read_status::ok;
} catch (const std::bad_alloc&) {
  why = {"read", std::make_error_code(std::errc::not_enough_memory)};
  return read_status::failed;
}

bool os_lock_held(const std::filesystem::path& path, const file_id& id,
                  std::error_code& ec) noexcept try {
  ec.clear();
  const auto wpath = wide_path(path, ec);
  if (ec) return false;
  HANDLE raw = open_existing(wpath, GENERIC_READ, FILE_FLAG_OVERLAPPED);
  if (raw == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (!is_gone(err)) ec = win32::error_code_of(err);
    return false;
  }
  file_handle h(reinterpret_cast<std::intptr_t>(raw));
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(raw, &info)) {
    ec = last_error();
    return false;
  }
  if (win32::id_of(info) != id) return false;  // another file now
  // Exclusive, so that a shared holder is seen too.
  switch (win32::try_lock(raw, LOCKFILE_EXCLUSIVE_LOCK, ec)) {
    case win32::try_result::granted: {
      OVERLAPPED ov{};
      UnlockFileEx(raw, 0, 1, 0, &ov);
      return false;
    }
    case win32::try_result::busy:
      return true;
    case win32::try_result::failed:
      return false;
  }
  return false;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return false;
}

// file_mode has no Windows meaning: the new file takes its directory's
// inherited ACL.
file_handle write_new_file(const std::filesystem::path& path,
                           std::string_view content,
                           std::optional<std::filesystem::perms>, bool sync,
                           failure& why) noexcept try {
  std::error_code ec;
  const auto wpath = wide_path(path, ec);
  if (ec) {
    why = {"create", ec};
    return {};
  }
  // CREATE_NEW fails on anything at the name, a planted link included.
  HANDLE raw = CreateFileW(wpath.c_str(), GENERIC_READ | GENERIC_WRITE,
                           kShareAll, nullptr, CREATE_NEW,
                           FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT,
                           nullptr);
  if (raw == INVALID_HANDLE_VALUE) {
    why = {"create", last_error()};
    return {};
  }
  file_handle h(reinterpret_cast<std::intptr_t>(raw));
  bool ok = write_at(raw, content, ec);
  if (!ok) why = {"write", ec};
  if (ok && sync && !FlushFileBuffers(raw)) {
    why = {"write", last_error()};
    ok = false;
  }
  if (!ok) {
    h.close();
    DeleteFileW(wpath.c_str());
    return {};
  }
  return h;
} catch (const std::bad_alloc&) {
  why = {"create", std::make_error_code(std::errc::not_enough_memory)};
  return {};
}

bool rewrite_file(const file_handle& h, std::string_view content, bool sync,
                  failure& why) noexcept {
  FILE_END_OF_FILE_INFO eof{};
  if (!SetFileInformationByHandle(as_handle(h), FileEndOfFileInfo, &eof,
                                  sizeof eof)) {
    why = {"write", last_error()};
    return false;
  }
  std::error_code ec;
  if (!write_at(as_handle(h), content, ec)) {
    why = {"write", ec};
    return false;
  }
  if (sync && !FlushFileBuffers(as_handle(h))) {
    why = {"write", last_error()};
    return false;
  }
  return true;
}

publish_status publish(const file_handle& h, const std::filesystem::path& from,
                       const std::filesystem::path& to,
                       std::error_code& ec) noexcept try {
  const auto wfrom = wide_path(from, ec);
  const auto wto = ec ? std::wstring() : wide_path(to, ec);
  if (ec) return publish_status::failed;
  // CreateHardLinkW fails if `to` exists, atomically.
  if (CreateHardLinkW(wto.c_str(), wfrom.c_str(), nullptr)) {
    return publish_status::linked;
  }
  DWORD err = GetLastError();
  if (err == ERROR_ALREADY_EXISTS || err == ERROR_FILE_EXISTS) {
    return publish_status::exists;
  }
  if (err == ERROR_INVALID_FUNCTION || err == ERROR_NOT_SUPPORTED) {
    // No hard links (FAT, exFAT): a rename that refuses to replace is just
    // as atomic; the old name is then gone already, which the caller's
    // removal of it takes in its stride.
    if (MoveFileExW(wfrom.c_str(), wto.c_str(), 0)) {
      return publish_status::linked;
    }
    err = GetLastError();
    if (err == ERROR_ALREADY_EXISTS || err == ERROR_FILE_EXISTS) {
      return publish_status::exists;
    }
  }
  (void)h;
  ec = win32::error_code_of(err);
  return publish_status::failed;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return publish_status::failed;
}

bool remove_file(const std::filesystem::path& path,
                 std::error_code& ec) noexcept try {
  ec.clear();
  const auto wpath = wide_path(path, ec);
  if (ec) return false;
  HANDLE raw = open_existing(wpath, DELETE, 0);
  if (raw == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (!is_gone(err)) ec = win32::error_code_of(err);
    return false;
  }
  file_handle h(reinterpret_cast<std::intptr_t>(raw));
  // POSIX semantics (Windows 10 1709 and later, NTFS): the name goes at
  // once, even while others have the file open, so that a new marker can
  // be created there straight away instead of meeting "delete pending".
  struct {
    ULONG flags;
  } posix_delete{0x1 | 0x2};  // FILE_DISPOSITION_FLAG_DELETE | _POSIX_SEMANTICS
  constexpr auto kDispositionInfoEx =
      static_cast<FILE_INFO_BY_HANDLE_CLASS>(21);
  if (SetFileInformationByHandle(raw, kDispositionInfoEx, &posix_delete,
                                 sizeof posix_delete)) {
    return true;
  }
  FILE_DISPOSITION_INFO classic{TRUE};
  if (SetFileInformationByHandle(raw, FileDispositionInfo, &classic,
                                 sizeof classic)) {
    return true;
  }
  ec = last_error();
  return false;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return false;
}

bool exists(const std::filesystem::path& path, std::error_code& ec) noexcept
    try {
  ec.clear();
  const auto wpath = wide_path(path, ec);
  if (ec) return false;
  // Attributes of a reparse point are its own: nothing is followed.
  if (GetFileAttributesW(wpath.c_str()) != INVALID_FILE_ATTRIBUTES) {
    return true;
  }
  const DWORD err = GetLastError();
  if (!is_gone(err)) ec = win32::error_code_of(err);
  return false;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return false;
}

bool touch(const file_handle& h, std::error_code& ec) noexcept {
  ec.clear();
  FILETIME now{};
  GetSystemTimeAsFileTime(&now);
  if (SetFileTime(as_handle(h), nullptr, nullptr, &now)) return true;
  ec = last_error();
  return false;
}

// Every Windows filesystem, SMB shares included, takes LockFileEx.
bool refuses_os_locks(const std::filesystem::path&) noexcept {
  return false;
}

bool is_network_filesystem(const std::filesystem::path& dir) noexcept try {
  std::error_code ec;
  const auto wdir = wide_path(dir, ec);
  if (ec) return true;  // unknown: poll
  if (wdir.rfind(L"\\\\?\\UNC\\", 0) == 0) return true;
  wchar_t root[MAX_PATH + 1] = {};
  if (!GetVolumePathNameW(wdir.c_str(), root, MAX_PATH)) return true;
  return GetDriveTypeW(root) == DRIVE_REMOTE;
} catch (const std::bad_alloc&) {
  return true;
}

}  // namespace filelock::detail::platform
