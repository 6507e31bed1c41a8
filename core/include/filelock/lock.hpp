// filelock::file_lock: an inter-process lock named by a file path.
//
// WHAT IT GUARANTEES
//   While a guard for an exclusive lock is held, no other guard for the same
//   file exists, in this process or any other process that uses filelock,
//   util-linux flock(1) or Python's filelock on the same path. Shared guards
//   may coexist with each other but never with an exclusive one.
//
// WHAT IT DOES NOT
//   - Locks are advisory: they exclude other lockers, not readers or writers
//     of the file that do not lock it. Lock a separate file, not your data.
//   - The OS lock (lock_kind::os) is flock(2) on POSIX and LockFileEx on
//     Windows. On NFS, Linux maps flock to NFS byte-range locks, which need a
//     working lock manager; without one the acquire fails with
//     errc::locking_unsupported and lock_kind::soft is the way out.
//   - Lock files are never deleted, on release or otherwise: deleting them
//     opens a window for two holders (see NOTES in filelock(1)).
//
// WHO HOLDS A LOCK
//   The OS holds it for the process. Inside the process the library keeps a
//   table of held files (keyed by device and inode, so two path spellings or
//   hard links of one file are one lock) and gives each acquire an owner: the
//   calling thread. An owner asking again for a lock it holds counts up
//   (reentrancy) instead of waiting on itself; another thread of the same
//   process is excluded exactly as another process would be. An owner that
//   holds a lock shared and asks for it exclusive gets errc::would_deadlock
//   at once rather than a wait that could never end. A guard may be released
//   from any thread.
//
// CALLING SEQUENCE
//   Constructing a file_lock does no I/O. acquire*() opens (and if needed
//   creates) the file and takes the lock; the returned guard releases it when
//   destroyed or on release(). Names say the blocking policy: try_ never
//   waits, _for and _until wait at most until a deadline (steady clock),
//   plain acquire waits until it succeeds or the stop token fires.
//
// ERRORS
//   Contention is not an error: the try_ forms return an empty optional and
//   acquire_until() reports busy / timed_out / cancelled in its result. Every
//   other failure is a filelock::error (see error.hpp); the throwing forms
//   throw it, acquire_until() returns it. Waiting forms throw timeout_error on
//   a deadline and error(errc::cancelled) on a stop request.
//
// SIGNALS, CRASH AND FORK
//   A process that dies, however it dies, loses its OS locks: the kernel
//   drops them when the last descriptor closes. A bounded or cancellable
//   wait on POSIX is woken by a real-time signal sent to the waiting thread
//   (see set_wakeup_signal in wait.hpp); it works whatever signal mask the
//   caller runs with. Descriptors are close-on-exec. After fork() the child
//   must not use the parent's guards: releasing one in the child would
//   unlock the parent's lock, so the library refuses
//   (errc::inherited_across_fork) and only closes its descriptor.
//
// SEMAPHORES (lock_options::slots = N)
//   At most N guards for the name exist at a time, across processes. The
//   name's file records N (one JSON line, {"filelock":1,"slots":N},
//   published once, atomically, by the first acquirer); each slot is an OS
//   lock on a file of its own next to it, "<name>.slot-1" ... "<name>.slot-N".
//   So a slot is kernel-released like any OS lock: a holder that dies frees
//   its slot by dying. A waiter blocks in the kernel on every slot at once
//   (one thread per slot, for the length of the wait) and wakes the moment
//   any slot frees; it does not poll. Asking with another N than the one
//   recorded, or at a file that records none, fails with
//   errc::slots_mismatch; a shared request fails with
//   errc::slots_unsupported, as does N outside 1..kMaxSlots. A semaphore is
//   not reentrant: each acquire takes one more slot, even by the same
//   thread. guard::slot() says which slot a guard holds. A plain
//   (slot-less) lock on the same name would exclude nobody holding a slot:
//   it fails with errc::slots_mismatch too. (util-linux flock(1)'s
//   personality, lock_options::follow_symlink, locks the file as it is.)
//
//   With lock_kind::soft (or automatic where the filesystem refuses OS
//   locks) the semaphore is soft: the record says so,
//   {"filelock":1,"slots":N,"kind":"soft"}, and each slot is a soft lock
//   whose marker is "<name>.slot-K", with all of a soft lock's rules: a
//   slot whose holder is provably gone is stale and taken over by the next
//   acquirer, a lifetime makes it a lease, detach() lets it outlive the
//   process. A waiter races the slots as for the OS form, each thread in
//   the soft lock's own wait, and sleeps until a marker is removed or its
//   holder exits where the platform can tell both (see inspect.hpp).
//   The record decides the kind: an os or automatic request on a soft
//   semaphore takes a soft slot (guard::kind() says soft), and a soft
//   request on an OS semaphore fails with errc::slots_mismatch.
//   An etcd name is an etcd semaphore with the same rules (SEMAPHORES in
//   filelock/etcd.hpp).
//
// FAIR QUEUEING (lock_options::fair)
//   flock(2) promises no order: under steady contention one waiter can lose
//   every race for as long as the contention lasts. With fair, waiters are
//   granted the lock in the order they asked. Each acquire first publishes
//   a ticket, "<name>.fair/<20-digit number>", the next number after the
//   highest there, holding the waiter's owner record. The ticket is locked
//   (an OS lock) before it is visible, and stays locked while its owner
//   waits and while it holds the lock; the waiter then blocks in the kernel
//   on the OS lock of the nearest older ticket and, once no older ticket
//   is left, takes the OS lock on the name itself. So each release wakes
//   only the next waiter, nothing polls, and a waiter that dies leaves the
//   queue by dying: the kernel drops its ticket's lock, and whoever comes
//   next removes the ticket. A deadline, a stop request or a try (a
//   deadline in the past) that fails removes the caller's ticket. The
//   order holds among fair lockers only: a plain acquire on the same name
//   (or flock(1)) still competes for the lock itself as it always did, and
//   the head of the queue waits for it like anyone. Near-simultaneous
//   arrivals (within the time to read the directory) may be numbered
//   either way. Exclusive OS locks only: a shared request, lock_kind::soft
//   and slots fail with errc::fair_unsupported (automatic means os). Not
//   reentrant: the owner asking again would queue behind itself, so it
//   gets errc::would_deadlock at once. inspect() lists the live tickets
//   (lock_report::queue). An etcd name accepts fair: its waiters are
//   granted in the order of their keys' creation already.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "filelock/error.hpp"

namespace filelock {

enum class lock_mode { exclusive, shared };
enum class lock_kind { os, soft, automatic };

std::string_view to_string(lock_mode mode) noexcept;
std::string_view to_string(lock_kind kind) noexcept;

using steady_clock = std::chrono::steady_clock;
using deadline = std::optional<steady_clock::time_point>;

// Who holds a lock, as far as can be told. Fields that are not known are
// empty (pid 0, empty strings, no time).
struct holder_info {
  std::int64_t pid = 0;
  std::string host;
  std::string command;
  std::optional<std::chrono::system_clock::time_point> since;
  lock_mode mode = lock_mode::exclusive;
  // Soft locks only (see inspect.hpp): the acquisition's random token, the
  // holder's boot id, and when its lifetime runs out if it has one.
  std::string token;
  std::string boot_id;
  std::optional<std::chrono::system_clock::time_point> expires;
  // Soft locks: a process that keeps the lock held after the owner is
  // gone, for as long as it lives (see guard::add_keeper); 0 for none.
  std::int64_t keeper_pid = 0;
};

struct lock_options {
  lock_kind kind = lock_kind::os;
  // Permissions given to a lock file this call creates, applied with
  // fchmod so that the umask does not narrow them. Without it a new file
  // gets 0666 less the umask. An existing file is never changed.
  std::optional<std::filesystem::perms> file_mode;
  // Called with one line of diagnostics (what is waited for, fallbacks).
  // The library never prints; leave empty for silence.
  std::function<void(std::string_view)> on_diagnostic;

  // Soft locks (lock_kind::soft, or automatic after a fallback) only; see
  // inspect.hpp for what a soft lock is and when it counts as stale.
  //
  // With a lifetime, the lock is a lease: it counts as stale once it has
  // not been refreshed (guard::refresh) for that long, even if its owner
  // is alive. Without one it lasts as long as its owner process.
  std::optional<std::chrono::milliseconds> lifetime;
  // How often a soft waiter re-reads the marker where no filesystem
  // notification can wake it (network filesystems, no inotify), and how
  // often it re-checks whether the holder died. Doubles up to a cap of
  // max(poll_interval, 1 s).
  std::chrono::milliseconds poll_interval{50};
  // The process recorded as the owner instead of this one, so that the lock
  // outlives this process (filelock acquire: the calling shell). It must
  // be alive; the lock is stale once it is gone. Use with guard::detach().
  std::optional<std::int64_t> owner_pid;
  // Recorded in the owner record for status to show (filelock run: the
  // command line it runs).
  std::string command;

  // OS locks only: how the path is taken, for the program's flock(1)
  // personality. By default a symlink at the path is refused (a link
  // planted in /tmp must not redirect the lock) and so is anything but a
  // regular file. follow_symlink locks what the link names, as flock(1)
  // does; allow_directory locks a directory, opened read-only (POSIX only:
  // Windows cannot lock a directory and still refuses one).
  bool follow_symlink = false;
  bool allow_directory = false;

  // A semaphore of this many slots instead of a lock (see SEMAPHORES
  // above); empty for a plain lock.
  std::optional<unsigned> slots;

  // Waiters get the lock in the order they asked for it (see FAIR QUEUEING
  // above). Exclusive OS locks only; etcd locks are in arrival order
  // anyway and accept it as what they always do.
  bool fair = false;
};

// The most slots a semaphore may have: a waiter runs a thread per slot.
inline constexpr unsigned kMaxSlots = 64;

enum class acquire_status { acquired, busy, timed_out, cancelled, failed };

namespace detail {
class holding;
}

// Ownership of one acquisition. Movable, not copyable. The destructor
// releases and never throws.
class guard {
 public:
  guard() noexcept = default;
  explicit guard(std::shared_ptr<detail::holding> h) noexcept;
  guard(guard&&) noexcept = default;
  guard& operator=(guard&& other) noexcept;
  ~guard();

  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;

  bool owns_lock() const noexcept { return holding_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  lock_mode mode() const noexcept;
  const std::filesystem::path& path() const noexcept;
  // The descriptor (POSIX) that carries the OS lock, or -1. It stays owned
  // by the library; the program uses it to hand the lock to a child.
  int native_handle() const noexcept;

  // True while the lock's path still leads to what this guard holds: the
  // file was not removed or replaced (OS lock), the marker is still ours
  // (soft lock). False with ec set when that cannot be checked.
  bool is_intact(std::error_code& ec) const noexcept;

  // lock_kind::os or lock_kind::soft: what was actually taken (automatic
  // resolves to one of them). lock_kind::os when empty.
  lock_kind kind() const noexcept;

  // A semaphore's slot this guard holds, from 1; 0 for a plain lock.
  unsigned slot() const noexcept;

  // Soft locks: renews the lease (see lock_options::lifetime) and checks
  // that the marker is still ours. Throws error(errc::lock_lost) when it is
  // not (removed, or replaced by someone who judged it stale). OS locks:
  // checks is_intact only. The ec form never throws.
  void refresh();
  void refresh(std::error_code& ec) noexcept;

  // Soft locks only: lets go of the lock without releasing it, so that it
  // outlives this guard and this process (filelock acquire). Returns the
  // token that release_soft() accepts. Throws error(errc::not_held) when
  // empty and error(errc::detach_unsupported) for an OS lock, which the
  // kernel would drop with the process anyway.
  std::string detach();

  // Soft locks only: process pid keeps the lock held after this process
  // is gone, for as long as pid lives; the lock is stale only once both
  // are. For a helper that outlives its parent on purpose (filelock run's
  // guardian, which stops the command when filelock is killed and must
  // not see the lock taken over before it has). Rewrites the marker's
  // owner record in place. The ec form never throws; for other kinds it
  // does nothing: their holders' descriptors already keep them.
  void add_keeper(std::int64_t pid, std::error_code& ec) noexcept;

  void release();
  void release(std::error_code& ec) noexcept;

  // OS locks: lets go of this process's descriptor without unlocking, so
  // that processes which inherited it (filelock run --inherit) keep the
  // lock for as long as they keep the descriptor open. Other kinds: the
  // same as release().
  void release_to_inheritors(std::error_code& ec) noexcept;

 private:
  std::shared_ptr<detail::holding> holding_;
};

struct acquire_result {
  acquire_status status = acquire_status::failed;
  guard lock;
  // When busy or timed out: the holder, where the platform can tell.
  std::optional<holder_info> holder;
  // When failed: what was being done and why it failed.
  std::string operation;
  std::error_code error;

  bool acquired() const noexcept { return status == acquire_status::acquired; }
};

// Runs a task somewhere else; acquire_async's caller may supply one.
using executor = std::function<void(std::function<void()>)>;

class file_lock {
 public:
  explicit file_lock(std::filesystem::path path, lock_options options = {});

  const std::filesystem::path& path() const noexcept { return path_; }
  const lock_options& options() const noexcept { return options_; }

  // The primitive behind every other form. Never throws. An empty deadline
  // waits without limit; a deadline in the past makes exactly one attempt.
  acquire_result acquire_until(deadline until, lock_mode mode,
                               const std::stop_token& stop = {}) noexcept;

  guard acquire(lock_mode mode = lock_mode::exclusive,
                const std::stop_token& stop = {});
  std::optional<guard> try_acquire(lock_mode mode = lock_mode::exclusive);

  template <class Rep, class Period>
  std::optional<guard> try_acquire_for(
      std::chrono::duration<Rep, Period> timeout,
      lock_mode mode = lock_mode::exclusive, const std::stop_token& stop = {}) {
    return try_acquire_until_steady(
        steady_clock::now() +
            std::chrono::ceil<steady_clock::duration>(timeout),
        mode, stop);
  }

  template <class Clock, class Duration>
  std::optional<guard> try_acquire_until(
      std::chrono::time_point<Clock, Duration> when,
      lock_mode mode = lock_mode::exclusive, const std::stop_token& stop = {}) {
    // Other clocks are converted once, up front: the wait itself always
    // runs on the steady clock so that wall-clock jumps cannot stretch it.
    auto left = when - Clock::now();
    return try_acquire_for(left, mode, stop);
  }

  // Acquires on another thread and delivers the guard through the future:
  // the calling thread never blocks. The acquire is owned by the calling
  // thread for reentrancy purposes. With no executor a new thread is used.
  // If the future is dropped, a lock that was taken is released with it;
  // a stop request makes the future hold error(errc::cancelled).
  std::future<guard> acquire_async(lock_mode mode = lock_mode::exclusive,
                                   std::stop_token stop = {},
                                   const executor& run_on = {});

  // Who holds this lock right now, as far as the platform can tell (on
  // Linux from /proc/locks). Never takes the lock.
  std::vector<holder_info> holders() const;

  // True when holders() sees every holder, so that a process missing from
  // the list does not hold the lock: soft locks (the marker names its
  // owner) everywhere, OS locks on Linux. False on other platforms, where
  // an empty list proves nothing.
  bool holders_complete() const noexcept;

 private:
  std::optional<guard> try_acquire_until_steady(steady_clock::time_point when,
                                                lock_mode mode,
                                                const std::stop_token& stop);

  std::filesystem::path path_;
  lock_options options_;
};

}  // namespace filelock
