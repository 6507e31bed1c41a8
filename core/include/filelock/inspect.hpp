// Soft locks, and looking at a lock without taking it: inspect(),
// break_stale(), release_soft().
//
// THE SOFT LOCK
//   A soft lock is the lock path itself: whoever made the file exists holds
//   the lock. It works on any filesystem that has link(2), NFS and SMB
//   included, and it can outlive the process that took it (filelock
//   acquire; lock_options::owner_pid and guard::detach). The file holds an
//   owner record, one JSON object a person can read with cat:
//
//     {"filelock":1,"pid":4242,"start":"8812345","boot_id":"3f0e...",
//      "host":"build7","since":"2026-12-03T19:05:04.123Z",
//      "lifetime":30.0,"token":"5b7c...","mode":"exclusive",
//      "command":"make install"}
//
//   "start" is the owner process's start time as the kernel counts it
//   (Linux: field 22 of /proc/PID/stat); "lifetime" (seconds) is present
//   only for a lease. "keeper" ({"pid":N,"start":"..."}, optional) names a
//   process that keeps the lock held after the owner is gone, for as long
//   as it lives (guard::add_keeper; filelock run's guardian). The lease is
//   renewed by touching the file's mtime (guard::refresh), so the record itself
//   is never rewritten.
//
//   The record is published complete or not at all: it is written to a
//   temporary file in the same directory and hard-linked into place. A
//   marker that is empty (Python filelock 3.9's SoftFileLock writes an
//   empty file) or does not parse has an UNKNOWN owner: it counts as held,
//   is judged stale only when it predates the last boot (below); otherwise
//   only a forced break removes it. The lines
//   "PID\nHOST\n[START]\n" that newer Python filelock versions write are
//   read as an owner on that host with that pid.
//
//   Soft locks are exclusive only: a shared request fails with
//   errc::shared_soft_unsupported rather than silently being exclusive.
//   Inside one process they are reentrant like the OS lock: the owner (the
//   calling thread) asking again counts up; other threads wait.
//
// WHEN A SOFT LOCK IS STALE (conservative: provably dead, never guessed)
//   - the record names this host and this boot (same boot id), and its pid
//     is gone, or is alive with another start time (the pid was reused),
//     and so is its keeper if it names one;
//   - the record names this host and another boot id (the host rebooted);
//   - it has a lifetime and its last refresh (the file's mtime) is older
//     than that: a lease the holder chose, which ends even if the holder is
//     alive but stopped renewing it (frozen, or on a dead host);
//   - its owner is unknown (empty or unparsable), it is on a local
//     filesystem (not NFS, SMB, FUSE, ...) and its mtime is earlier than
//     this machine's boot time (Linux: btime in /proc/stat): it was made
//     before the last reboot, so its owner died then. On a local filesystem
//     the record is not flushed to disk before the marker is published (a
//     flush costs milliseconds), so a crash may leave the marker empty or
//     garbled; this rule is what clears it. A marker with a record is never
//     judged by its mtime this way: the clock of a machine without a
//     real-time clock is set forward after boot, and a live holder's marker
//     written before that would look older than the boot. On network
//     filesystems, and on Windows (no boot time used), the record is
//     flushed before publishing instead.
//   Never stale: another host's record without a lifetime (its pid means
//   nothing here), a pid that kill(pid, 0) answers with EPERM (alive, not
//   ours), any case where liveness cannot be read, an unknown owner made
//   since the boot, and a file that someone holds an OS lock on (C10: age
//   never breaks a kernel lock). Lease expiry compares wall clocks of different
//   hosts on a shared filesystem: keep them in sync (NTP) and lifetimes well
//   above the skew.
//
// TAKING OVER
//   An acquirer that finds a stale marker removes it and competes for the
//   lock again; break_stale() does the same on request. Removal is
//   serialised per acquisition by a claim file next to the lock (see
//   soft_lock.cpp for the algorithm and the race each step closes), so that
//   with any number of acquirers and breakers racing, a marker is removed
//   at most once and never after it has been replaced. Claim files are
//   named ".<lock name>.claim-<token>[.<n>]" and hold the remover's own
//   record. One left behind by a remover killed mid-removal is superseded
//   by the next remover once its maker is provably gone (same rules as for
//   an owner); a claim by a process on another host, or an empty one,
//   makes the lock report stale with a takeover under way, which only a
//   forced break clears. break_stale() also sweeps what killed processes
//   leave beside the lock: an acquirer's unpublished record
//   (".<lock name>.<token>.<pid>.tmp") and claims on markers already gone, when
//   their makers are provably gone (lock names under 100 bytes only: longer
//   ones are cut in helper names and could match another lock's).
//
// WAITING
//   On Linux a soft waiter watches the directory with inotify and wakes the
//   moment the marker is removed. On a network filesystem (NFS, SMB, FUSE),
//   where another client's removal sends no event, and where inotify is
//   unavailable, it re-reads the marker every poll_interval with backoff.
//   A holder that dies removes nothing: for a holder on this host a waiter
//   also watches the process itself (Linux: a pidfd) and takes over the
//   moment it exits; otherwise it re-checks liveness at each poll. When it
//   is woken by both (inotify and a pidfd on the recorded process), it
//   does not poll: it looks again only at a lease's end, or after 30 s as
//   a safety net.
//
// CHOOSING THE KIND
//   lock_kind::automatic takes the OS lock, and falls back to the soft lock
//   where the filesystem refuses OS locks (ENOLCK, EOPNOTSUPP, ENOSYS). The
//   refusal is detected on the directory before the lock file is created,
//   so the fallback leaves no empty OS lock file behind to block the soft
//   lock; guard::kind() and on_diagnostic tell which kind was taken. The
//   kinds exclude each other on one path: an OS lock file left in place
//   is, to a soft locker, a marker with an unknown owner; and lock_kind::os
//   or automatic on a file that holds our owner record drops its OS lock
//   and takes the path as a soft lock (not with follow_symlink or
//   allow_directory, flock(1)'s personality, which lock any file).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "filelock/lock.hpp"

namespace filelock {

enum class lock_state { free, held, stale };
std::string_view to_string(lock_state state) noexcept;

// One slot of a semaphore (lock_options::slots), as inspect() sees it.
struct slot_report {
  unsigned number = 0;  // from 1
  bool held = false;
  // Who holds it, where the platform can tell (Linux: /proc/locks; a soft
  // semaphore's slot: its marker's owner, stale ones too).
  std::optional<holder_info> holder;
  // The slot's own file, "<name>.slot-<number>".
  std::filesystem::path file;
  // Soft semaphores: the slot's marker is stale (not held), and why.
  bool stale = false;
  std::string stale_reason;
};

// One live ticket of a fair queue (lock_options::fair).
struct queue_entry {
  std::uint64_t ticket = 0;
  // From the ticket's owner record; pid 0 where it cannot be read (on
  // Windows a locked ticket cannot be read by others).
  holder_info waiter;
};

// What inspect() sees at a path, without taking or creating anything.
struct lock_report {
  std::filesystem::path path;
  lock_state state = lock_state::free;
  // lock_kind::os or lock_kind::soft: what kind of lock the file is (for a
  // free path, the kind that was asked about, os for automatic).
  lock_kind kind = lock_kind::os;
  lock_mode mode = lock_mode::exclusive;
  // OS locks: every holder the kernel reports (Linux: /proc/locks), with
  // `since` the holder process's start time. Soft locks: the one owner.
  std::vector<holder_info> holders;
  // For a stale lock, why, e.g. "process 4242 is gone".
  std::string stale_reason;
  // A soft marker that is empty or cannot be parsed: held, owner unknown.
  bool owner_unknown = false;
  // For owner_unknown: why the record was not read ("empty marker",
  // "not a filelock owner record: ...").
  std::string record_error;
  // "filelock" for our own record, "python-filelock" for Python's owner
  // lines, empty otherwise.
  std::string record_format;
  // A semaphore: the slot count its file records (0: not a semaphore) and
  // every slot in order. held when any slot is; holders lists the slots'
  // holders again, in slot order.
  unsigned slots = 0;
  std::vector<slot_report> slot_list;
  // OS locks: the fair queue's live tickets, oldest first (empty when
  // nobody uses fair on the name). The holder of a fair lock keeps its
  // ticket, so the first one is usually the holder's.
  std::vector<queue_entry> queue;
};

// Looks at the lock at path. hint says what to look for:
//   - os: only the kernel's view (holders from /proc/locks);
//   - soft: the path is a soft marker; any existing file is held;
//   - automatic: the kernel's view first (a file someone holds an OS lock
//     on is an OS lock), then a file holding a filelock record or Python
//     owner lines is a soft marker; anything else, an empty file included,
//     is an idle OS lock file and reported free. (An empty Python 3.9 soft
//     marker cannot be told from an idle OS lock file: ask with soft.)
// A file that records a semaphore's slot count (see SEMAPHORES in lock.hpp)
// is reported as a semaphore whatever the hint, with each slot's state.
// Throws filelock::error when the path cannot be examined (permissions,
// I/O errors); a missing file is simply free.
lock_report inspect(const std::filesystem::path& path,
                    lock_kind hint = lock_kind::automatic);

struct break_options {
  // Also remove a live or unknown-owner soft marker, and clear a claim
  // left by an interrupted takeover. Never removes a file someone holds an
  // OS lock on, and never an idle OS lock file (use kind soft for that).
  bool force = false;
  // Only say what would be done.
  bool dry_run = false;
  lock_kind kind = lock_kind::automatic;
};

enum class break_outcome {
  nothing_to_do,    // free, or an idle OS lock file
  removed,          // a stale (or, forced, any) soft marker was removed
  would_remove,     // dry run: it would have been removed
  refused_live,     // held by a live owner (or a live OS lock): untouched
  refused_unknown,  // unknown owner or interrupted takeover, not forced
  lost_race,        // someone else removed or replaced it meanwhile
};
std::string_view to_string(break_outcome outcome) noexcept;

struct break_report {
  lock_report before;  // what was judged
  break_outcome outcome = break_outcome::nothing_to_do;
  // Soft locks: helper files that processes killed mid-way left next to
  // the lock (an acquirer's unpublished record, a remover's claim), whose
  // makers are provably gone: removed, or on a dry run, to be removed.
  std::vector<std::filesystem::path> leftovers;
  // A soft semaphore (the path records its slot count): each slot's own
  // break, in slot order, with before.path the slot's marker. before and
  // leftovers above then cover the whole semaphore, and outcome is the
  // most telling of the slots' (removed, would_remove, refused_live,
  // refused_unknown, lost_race, nothing_to_do, in that order).
  std::vector<break_report> slots;
};

// Removes the soft lock at path if it is stale (or, with force, whatever
// its owner). Race-free against acquirers, owners and other breakers.
// Throws filelock::error on I/O errors.
break_report break_stale(const std::filesystem::path& path,
                         const break_options& options = {});

struct release_options {
  // The caller, as recorded when the lock was taken: a process (alive, with
  // the same start time as recorded) ...
  std::optional<std::int64_t> owner_pid;
  // ... or the token guard::detach() returned. Either one matching is
  // enough.
  std::string token;
  // Release whoever owns it (never a file someone holds an OS lock on).
  bool force = false;
};

enum class release_outcome {
  released,
  not_held,   // there was no soft marker
  not_owner,  // refused: someone else owns it (see owner)
  os_locked,  // refused: the file carries an OS lock, not a soft marker
};
std::string_view to_string(release_outcome outcome) noexcept;

struct release_report {
  release_outcome outcome = release_outcome::not_held;
  // The owner found in the marker, when there was one.
  std::optional<holder_info> owner;
  bool owner_unknown = false;
};

// Releases a soft lock that outlived its guard (filelock release).
// Throws filelock::error on I/O errors.
release_report release_soft(const std::filesystem::path& path,
                            const release_options& options);

}  // namespace filelock
