// How a bounded or cancellable wait is woken on POSIX.
//
// flock(2) has no timeout and no cancellation, and a kernel wait is the only
// way to learn of a release the moment it happens (no polling). So a waiting
// thread blocks in flock() and, when its deadline passes or a stop is
// requested, a watchdog thread sends it a signal; the signal's handler does
// nothing, and flock() returns EINTR. The waiting thread unblocks that one
// signal for the duration of the wait only, so the wait ends on time
// whatever signal mask the caller inherited (util-linux flock(1)'s SIGALRM
// timer never fires when SIGALRM is blocked).
//
// By default the library takes the highest real-time signal whose
// disposition is still the default when the first such wait starts, and
// installs its handler there (without SA_RESTART). A program that uses that
// signal itself chooses another one before its first wait. On Windows the
// functions exist and do nothing.
#pragma once

namespace filelock {

// The signal in use, or 0 when none has been chosen yet.
int wakeup_signal() noexcept;

// Chooses the signal; call before the first bounded wait. Returns false
// (and changes nothing) once a wait has already installed a handler.
bool set_wakeup_signal(int signo) noexcept;

}  // namespace filelock
