// Waiting for a LockFileEx lock with a deadline and a stop request.
//
// The handle is opened for overlapped I/O, so LockFileEx without
// LOCKFILE_FAIL_IMMEDIATELY queues the request in the kernel and returns at
// once; the kernel signals the request's event the moment the lock is
// granted. On timeout or stop, CancelIoEx withdraws the request, and
// GetOverlappedResult says whether it was granted before the cancel took
// effect (then the lock is ours and is kept).
//
// The stop request is looked at every kStopCheck rather than through a
// std::stop_callback: with the mingw-w64 GCC 12 runtime, destroying a
// stop_callback while another thread is still inside it can hang for good
// (a lost wake-up in libstdc++'s semaphore on platforms without futexes,
// GCC bug 98033; reproduced here under Wine in a few hundred rounds).
#include <algorithm>
#include <chrono>

#include "win32/win32.hpp"

namespace filelock::detail::win32 {
namespace {

using platform::wait_status;

constexpr DWORD kStopCheck = 10;  // ms

class event {
 public:
  event() : h_(CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~event() {
    if (h_ != nullptr) CloseHandle(h_);
  }
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  HANDLE get() const { return h_; }

 private:
  HANDLE h_;
};

// Milliseconds to the deadline, rounded up so that we never wake before
// it; INFINITE without one. Waits longer than ~49 days come back early and
// are resumed by the callers' loops.
DWORD millis_left(const deadline& until) {
  if (!until) return INFINITE;
  const auto left = *until - steady_clock::now();
  if (left <= steady_clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<DWORD>(std::min<long long>(ms, INFINITE - 1));
}

// How long to sleep before looking again at the deadline and the stop.
DWORD slice(const deadline& until, const std::stop_token& stop, DWORD at_most) {
  const DWORD left = millis_left(until);
  return std::min(stop.stop_possible() ? kStopCheck : at_most, left);
}

bool past(const deadline& until) {
  return until && steady_clock::now() >= *until;
}

wait_status overlapped_wait(HANDLE h, DWORD flags, const deadline& until,
                            const std::stop_token& stop, std::error_code& ec) {
  event done;
  if (done.get() == nullptr) {
    ec = last_error();
    return wait_status::failed;
  }
  OVERLAPPED ov{};  // offset 0
  ov.hEvent = done.get();
  if (LockFileEx(h, flags, 0, 1, 0, &ov)) return wait_status::acquired;
  if (GetLastError() != ERROR_IO_PENDING) {
    ec = last_error();
    return wait_status::failed;
  }

  wait_status abandoned = wait_status::acquired;
  for (;;) {
    const DWORD r =
        WaitForSingleObject(done.get(), slice(until, stop, INFINITE));
    if (r == WAIT_OBJECT_0) break;
    if (r == WAIT_TIMEOUT) {
      if (stop.stop_requested()) {
        abandoned = wait_status::cancelled;
      } else if (past(until)) {
        abandoned = wait_status::timed_out;
      } else {
        continue;
      }
    } else {
      ec = last_error();
      abandoned = wait_status::failed;
    }
    // Fails with ERROR_NOT_FOUND when the request completed meanwhile,
    // which GetOverlappedResult then reports.
    CancelIoEx(h, &ov);
    break;
  }

  // Must wait for the request to finish either way: the kernel writes to
  // ov until it does.
  DWORD unused = 0;
  if (GetOverlappedResult(h, &ov, &unused, TRUE)) {
    ec.clear();
    return wait_status::acquired;  // granted before the cancel: ours now
  }
  if (GetLastError() == ERROR_OPERATION_ABORTED &&
      abandoned != wait_status::acquired) {
    return abandoned;
  }
  if (!ec) ec = last_error();
  return wait_status::failed;
}

// Wine only (see running_under_wine): tries again at growing intervals,
// from 1 ms up to 50 ms.
wait_status polled_wait(HANDLE h, DWORD flags, const deadline& until,
                        const std::stop_token& stop, std::error_code& ec) {
  DWORD pause = 1;
  for (;;) {
    Sleep(slice(until, stop, pause));
    if (stop.stop_requested()) return wait_status::cancelled;
    switch (try_lock(h, flags, ec)) {
      case try_result::granted:
        return wait_status::acquired;
      case try_result::failed:
        return wait_status::failed;
      case try_result::busy:
        break;
    }
    if (past(until)) return wait_status::timed_out;
    pause = std::min<DWORD>(pause * 2, 50);
  }
}

}  // namespace

try_result try_lock(HANDLE h, DWORD flags, std::error_code& ec) noexcept {
  // No event: the handle itself is signalled when its request completes,
  // and a request that may not wait completes at once.
  OVERLAPPED ov{};
  const DWORD all = flags | LOCKFILE_FAIL_IMMEDIATELY;
  BOOL ok = LockFileEx(h, all, 0, 1, 0, &ov);
  if (!ok && GetLastError() == ERROR_IO_PENDING) {
    DWORD unused = 0;
    ok = GetOverlappedResult(h, &ov, &unused, TRUE);
  }
  if (ok) return try_result::granted;
  // ERROR_LOCK_VIOLATION: held by another handle, which may be another
  // description of ours in this process (os_lock.cpp's table handles that).
  if (GetLastError() == ERROR_LOCK_VIOLATION) return try_result::busy;
  ec = last_error();
  return try_result::failed;
}

wait_status wait_lock(HANDLE h, DWORD flags, const deadline& until,
                      const std::stop_token& stop,
                      std::error_code& ec) noexcept {
  if (running_under_wine()) return polled_wait(h, flags, until, stop, ec);
  return overlapped_wait(h, flags, until, stop, ec);
}

}  // namespace filelock::detail::win32
