// Process identity on Windows, for judging a soft lock's owner: liveness
// through a process handle, the creation time against PID reuse, random
// tokens from the system's generator.
#include "win32/win32.hpp"  // windows.h before bcrypt.h

#include <bcrypt.h>

#include <cstdio>

namespace filelock::detail::platform {
namespace {

struct process_handle {
  HANDLE h;
  explicit process_handle(std::int64_t pid)
      : h(pid > 0 && pid <= 0xFFFFFFFF
              ? OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | SYNCHRONIZE,
                            FALSE, static_cast<DWORD>(pid))
              : nullptr) {}
  ~process_handle() {
    if (h != nullptr) CloseHandle(h);
  }
  process_handle(const process_handle&) = delete;
  process_handle& operator=(const process_handle&) = delete;
};

// 100 ns intervals since 1601-01-01 UTC; 0 when unknown.
std::uint64_t creation_filetime(std::int64_t pid) {
  process_handle p(pid);
  FILETIME created{}, exited{}, kernel{}, user{};
  if (p.h == nullptr ||
      !GetProcessTimes(p.h, &created, &exited, &kernel, &user)) {
    return 0;
  }
  return (std::uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
}

}  // namespace

liveness process_liveness(std::int64_t pid) noexcept {
  if (pid <= 0 || pid > 0xFFFFFFFF) return liveness::unknown;
  process_handle p(pid);
  if (p.h == nullptr) {
    // ERROR_INVALID_PARAMETER is how OpenProcess says "no such process";
    // access denied means it exists and is someone else's.
    const DWORD err = GetLastError();
    if (err == ERROR_INVALID_PARAMETER) return liveness::gone;
    return err == ERROR_ACCESS_DENIED ? liveness::alive : liveness::unknown;
  }
  // An exited process whose handle someone still holds: signalled.
  return WaitForSingleObject(p.h, 0) == WAIT_OBJECT_0 ? liveness::gone
                                                      : liveness::alive;
}

std::string process_start(std::int64_t pid) {
  const auto t = creation_filetime(pid);
  return t == 0 ? std::string() : std::to_string(t);
}

std::optional<std::chrono::system_clock::time_point> process_start_time(
    std::int64_t pid) {
  const auto t = creation_filetime(pid);
  // FILETIME counts from 1601; the Unix epoch is 11644473600 s later.
  constexpr std::uint64_t kEpochOffset = 116444736000000000ULL;
  if (t < kEpochOffset) return std::nullopt;
  const auto since_epoch =
      std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>(
          static_cast<std::int64_t>(t - kEpochOffset));
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          since_epoch));
}

// Not given: with Fast Startup a Windows "shut down" hibernates the kernel,
// so now minus GetTickCount64 is not the moment the owners of old markers
// died, and this has not been tried on a real Windows. Without a boot time
// the soft lock keeps flushing its markers to disk here.
std::optional<std::chrono::system_clock::time_point> boot_time() noexcept {
  return {};
}

// Windows publishes no boot identifier. A reboot still shows: the owner's
// pid is then gone or belongs to a process created at another time.
std::string boot_id() {
  return {};
}

std::string new_token() {
  unsigned char b[16] = {};
  if (BCryptGenRandom(nullptr, b, sizeof b, BCRYPT_USE_SYSTEM_PREFERRED_RNG) !=
      0) {
    return {};
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                "%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                b[10], b[11], b[12], b[13], b[14], b[15]);
  return out;
}

}  // namespace filelock::detail::platform
