// Win32 implementation of platform.hpp: LockFileEx on one byte at offset 0
// of the lock file, the range Python's filelock and msvcrt.locking() lock,
// so that they and we exclude each other.
//
// Windows byte-range locks are mandatory: while we hold byte 0 exclusively,
// other handles can neither read nor write that byte. Use a lock file that
// is not also the data (see README, "Windows").
#include "win32/win32.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "platform.hpp"

namespace filelock::detail::platform {
namespace {

using win32::last_error;
using win32::wide_path;

// Every open of a lock file. FILE_SHARE_*: others (the command we run,
// Python's filelock, an editor) may still open, replace or delete the file
// while we hold it; the lock, not the open, is what excludes. Overlapped, so
// that a wait for the lock can be abandoned. FILE_FLAG_OPEN_REPARSE_POINT:
// a symlink or junction planted at the path is opened as itself, never
// followed, and then refused.
constexpr DWORD kShareAll =
    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;
constexpr DWORD kFlags =
    FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OVERLAPPED | FILE_FLAG_OPEN_REPARSE_POINT;

HANDLE as_handle(const file_handle& h) {
  return reinterpret_cast<HANDLE>(h.get());
}

// Why an open was refused with ERROR_ACCESS_DENIED, which Windows returns
// both for permanent causes (an ACL, a directory) and for a file whose
// deletion is pending until its last handle closes (tox-dev/filelock#604).
// Only the second is worth another try.
bool delete_pending() {
  return win32::last_nt_status() == win32::kStatusDeletePending;
}

// A directory or a reparse point at the path, found after an open failed
// with access denied (CreateFileW cannot open a directory without
// FILE_FLAG_BACKUP_SEMANTICS).
bool explain_denied(const std::wstring& wpath, const open_rules& rules,
                    failure& why) {
  const DWORD attrs = GetFileAttributesW(wpath.c_str());
  if (attrs == INVALID_FILE_ATTRIBUTES) return false;
  if ((attrs & FILE_ATTRIBUTE_REPARSE_POINT) && !rules.follow_symlink) {
    why = {"open", make_error_code(errc::symlink_refused)};
    return true;
  }
  if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
    why = {"lock", std::make_error_code(std::errc::is_a_directory)};
    return true;
  }
  return false;
}

// Refuses what we opened when it is not a plain file on a disk.
// A directory stays refused even under open_rules::allow_directory:
// LockFileEx locks byte ranges of file data, which a directory has none of.
// Fills id from the same information when asked.
bool check_regular(HANDLE h, failure& why, file_id* id, std::uint64_t* size) {
  if (GetFileType(h) != FILE_TYPE_DISK) {
    why = {"lock", make_error_code(errc::not_a_regular_file)};
    return false;
  }
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(h, &info)) {
    why = {"stat", last_error()};
    return false;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) {
    why = {"open", make_error_code(errc::symlink_refused)};
    return false;
  }
  if (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) {
    why = {"lock", std::make_error_code(std::errc::is_a_directory)};
    return false;
  }
  if (id) *id = win32::id_of(info);
  if (size) {
    *size = (static_cast<std::uint64_t>(info.nFileSizeHigh) << 32) |
            info.nFileSizeLow;
  }
  return true;
}

// Read access only: LockFileEx needs no more (exclusive locks included),
// a file we may only read can still be locked, and programs that open the
// file while we hold it without FILE_SHARE_WRITE (cmd.exe's `type`, for
// one) are not refused with a sharing violation (C29). Not inheritable (no
// SECURITY_ATTRIBUTES): a command we start must not keep the lock's handle.
HANDLE open_once(const std::wstring& wpath, DWORD disposition,
                 const open_rules& rules) {
  const DWORD flags =
      rules.follow_symlink ? kFlags & ~FILE_FLAG_OPEN_REPARSE_POINT : kFlags;
  return CreateFileW(wpath.c_str(), GENERIC_READ, kShareAll, nullptr,
                     disposition, flags, nullptr);
}

}  // namespace

file_handle& file_handle::operator=(file_handle&& o) noexcept {
  if (this != &o) {
    close();
    h_ = o.h_;
    o.h_ = invalid;
  }
  return *this;
}

void file_handle::close() noexcept {
  if (h_ != invalid) {
    CloseHandle(reinterpret_cast<HANDLE>(h_));
    h_ = invalid;
  }
}

// file_mode has no Windows meaning: a new file takes the ACL its directory
// passes on, which is how Windows shares files between users.
file_handle open_lock_file(const std::filesystem::path& path, lock_mode,
                           std::optional<std::filesystem::perms>, failure& why,
                           const open_rules& rules, file_id* id,
                           std::uint64_t* size) noexcept try {
  if (size) *size = 0;
  std::error_code ec;
  const std::wstring wpath = wide_path(path, ec);
  if (ec) {
    why = {"open", ec};
    return {};
  }
  // Bounded: a delete-pending file goes away when its last handle closes,
  // which is a matter of milliseconds unless someone keeps it open; after
  // about a second we report the denial rather than hang (C30).
  auto pause = std::chrono::milliseconds(1);
  for (int round = 0;; ++round) {
    HANDLE h = open_once(wpath, OPEN_ALWAYS, rules);
    if (h != INVALID_HANDLE_VALUE) {
      if (!check_regular(h, why, id, size)) {
        CloseHandle(h);
        return {};
      }
      return file_handle(reinterpret_cast<std::intptr_t>(h));
    }
    const DWORD err = GetLastError();
    const bool pending = err == ERROR_ACCESS_DENIED && delete_pending();
    if (err == ERROR_ACCESS_DENIED && !pending &&
        explain_denied(wpath, rules, why)) {
      return {};
    }
    const bool transient = pending || err == ERROR_SHARING_VIOLATION;
    if (!transient || round >= 10) {
      why = {"open", win32::error_code_of(err)};
      return {};
    }
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
} catch (const std::bad_alloc&) {
  why = {"open", std::make_error_code(std::errc::not_enough_memory)};
  return {};
}

file_handle open_existing_lock_file(const std::filesystem::path& path,
                                    file_id& id, failure& why) noexcept try {
  why = {};
  std::error_code ec;
  const std::wstring wpath = wide_path(path, ec);
  if (ec) {
    why = {"open", ec};
    return {};
  }
  HANDLE h = open_once(wpath, OPEN_EXISTING, {});
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    // A file whose deletion is pending is as good as gone.
    const bool gone = err == ERROR_FILE_NOT_FOUND ||
                      err == ERROR_PATH_NOT_FOUND ||
                      (err == ERROR_ACCESS_DENIED && delete_pending());
    if (!gone) why = {"open", win32::error_code_of(err)};
    return {};
  }
  if (!check_regular(h, why, &id, nullptr)) {
    CloseHandle(h);
    return {};
  }
  return file_handle(reinterpret_cast<std::intptr_t>(h));
} catch (const std::bad_alloc&) {
  why = {"open", std::make_error_code(std::errc::not_enough_memory)};
  return {};
}

bool identify(const file_handle& h, file_id& id, std::error_code& ec) noexcept {
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(as_handle(h), &info)) {
    ec = last_error();
    return false;
  }
  id = win32::id_of(info);
  return true;
}

wait_status lock_file(const file_handle& h, lock_mode mode,
                      const deadline& until, const std::stop_token& stop,
                      std::error_code& ec) noexcept {
  const DWORD flags =
      mode == lock_mode::exclusive ? LOCKFILE_EXCLUSIVE_LOCK : 0;
  switch (win32::try_lock(as_handle(h), flags, ec)) {
    case win32::try_result::granted:
      return wait_status::acquired;
    case win32::try_result::failed:
      return wait_status::failed;
    case win32::try_result::busy:
      break;
  }
  if (until && steady_clock::now() >= *until) return wait_status::busy;
  if (stop.stop_requested()) return wait_status::cancelled;
  return win32::wait_lock(as_handle(h), flags, until, stop, ec);
}

void unlock_file(const file_handle& h, std::error_code& ec) noexcept {
  OVERLAPPED ov{};
  if (!UnlockFileEx(as_handle(h), 0, 1, 0, &ov)) ec = last_error();
}

bool path_names(const std::filesystem::path& path, const file_id& id,
                std::error_code& ec, bool follow_symlink) noexcept try {
  const std::wstring wpath = wide_path(path, ec);
  if (ec) return false;
  // No access rights asked: only the identity is read. Backup semantics
  // lets a directory planted there be opened and found to differ.
  const DWORD flags = FILE_FLAG_BACKUP_SEMANTICS |
                      (follow_symlink ? 0 : FILE_FLAG_OPEN_REPARSE_POINT);
  HANDLE h = CreateFileW(wpath.c_str(), FILE_READ_ATTRIBUTES, kShareAll,
                         nullptr, OPEN_EXISTING, flags, nullptr);
  if (h == INVALID_HANDLE_VALUE) {
    const DWORD err = GetLastError();
    if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) {
      return false;  // removed while we waited
    }
    if (err == ERROR_ACCESS_DENIED && delete_pending()) return false;
    ec = win32::error_code_of(err);
    return false;
  }
  BY_HANDLE_FILE_INFORMATION info{};
  const bool ok = GetFileInformationByHandle(h, &info) != 0;
  if (!ok) ec = last_error();
  CloseHandle(h);
  return ok && win32::id_of(info) == id && info.nNumberOfLinks > 0;
} catch (const std::bad_alloc&) {
  ec = std::make_error_code(std::errc::not_enough_memory);
  return false;
}

// Windows has no list of who holds a byte-range lock.
// Windows has no list of the holders of a byte-range lock.
bool stop_callbacks_safe() noexcept {
  return false;
}

bool os_lock_holders_complete() noexcept {
  return false;
}

std::vector<holder_info> os_lock_holders(const file_id&) {
  return {};
}

std::int64_t current_pid() noexcept {
  return GetCurrentProcessId();
}

std::vector<std::string> curl_library_names() {
  // curl's own Windows builds and vcpkg name it libcurl.dll, MSYS2 and
  // MinGW builds libcurl-4.dll (the soname's number kept in the name).
  return {"libcurl.dll", "libcurl-4.dll", "libcurl-x64.dll"};
}

void* open_library(const std::string& name, std::string& error) noexcept {
  HMODULE m = LoadLibraryW(win32::widen(name).c_str());
  if (m == nullptr) {
    error = name + ": " + win32::error_code_of(GetLastError()).message();
  }
  return reinterpret_cast<void*>(m);
}

void* library_symbol(void* library, const char* name) noexcept {
  return reinterpret_cast<void*>(
      GetProcAddress(static_cast<HMODULE>(library), name));
}

std::string process_command(std::int64_t pid) {
  if (pid == current_pid()) return win32::narrow(GetCommandLineW());
  // Another process's command line lives in its memory (PEB), readable
  // only through undocumented structures; its executable's path is the
  // documented part we can give.
  HANDLE p = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE,
                         static_cast<DWORD>(pid));
  if (p == nullptr) return {};
  std::wstring image(32768, L'\0');
  DWORD size = static_cast<DWORD>(image.size());
  const bool ok = QueryFullProcessImageNameW(p, 0, image.data(), &size) != 0;
  CloseHandle(p);
  if (!ok) return {};
  image.resize(size);
  return win32::narrow(image);
}

std::string host_name() {
  wchar_t buf[256] = {};
  DWORD size = 256;
  if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &size)) return {};
  return win32::narrow(std::wstring(buf, size));
}

}  // namespace filelock::detail::platform
