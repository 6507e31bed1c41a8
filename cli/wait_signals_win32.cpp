#include <windows.h>

#include <atomic>
#include <csignal>

#include "wait_signals.hpp"

// What Windows' default handler exits with when Ctrl-C ends a console
// process; mingw-w64 has it in ntstatus.h only.
#ifndef STATUS_CONTROL_C_EXIT
#define STATUS_CONTROL_C_EXIT ((DWORD)0xC000013AL)
#endif

namespace filelock::cli {

struct wait_signals::state {
  std::stop_source stop;
  std::atomic<int> signal{0};
  // Set by finish(): the key is withdrawn (or the wait never stopped).
  HANDLE finished = CreateEventW(nullptr, TRUE, FALSE, nullptr);
  bool installed = false;
};

namespace {

// A console control handler has no argument to carry our state; only one
// wait runs at a time.
std::atomic<wait_signals::state*> g_state{nullptr};

int signal_of(DWORD event) {
  switch (event) {
    case CTRL_C_EVENT:
      return SIGINT;
    case CTRL_BREAK_EVENT:
      return SIGBREAK;
    default:
      return SIGTERM;
  }
}

// Runs on a thread that Windows starts for the event, so it may block.
BOOL WINAPI on_ctrl(DWORD event) {
  wait_signals::state* s = g_state.load();
  if (s == nullptr) return FALSE;
  int expected = 0;
  s->signal.compare_exchange_strong(expected, signal_of(event));
  s->stop.request_stop();
  // Windows ends the process as soon as a close, logoff or shutdown
  // handler returns (and after about 5 s in any case), so this one holds
  // it back until the key is withdrawn. Ctrl-C and Ctrl-Break wait for
  // nobody: the main thread ends the process itself in reraise().
  if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT &&
      s->finished != nullptr) {
    WaitForSingleObject(s->finished, 4500);
  }
  return TRUE;
}

}  // namespace

wait_signals::wait_signals() : s_(std::make_unique<state>()) {
  g_state.store(s_.get());
  s_->installed = SetConsoleCtrlHandler(on_ctrl, TRUE) != FALSE;
}

wait_signals::~wait_signals() {
  finish();
  if (s_->finished != nullptr) CloseHandle(s_->finished);
}

std::stop_token wait_signals::token() const {
  return s_->stop.get_token();
}

int wait_signals::signal() const {
  return s_->signal;
}

void wait_signals::finish() {
  if (!s_->installed) return;
  s_->installed = false;
  SetConsoleCtrlHandler(on_ctrl, FALSE);
  g_state.store(nullptr);
  if (s_->finished != nullptr) SetEvent(s_->finished);
}

void wait_signals::reraise() {
  finish();
  // As the default handler ends a process for any of these events.
  ExitProcess(STATUS_CONTROL_C_EXIT);
}

}  // namespace filelock::cli
