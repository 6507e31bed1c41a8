#include <windows.h>

#include <atomic>

#include "wait_line.hpp"

#ifndef ENABLE_VIRTUAL_TERMINAL_PROCESSING
#define ENABLE_VIRTUAL_TERMINAL_PROCESSING 0x0004
#endif

namespace filelock::cli::terminal {
namespace {

std::atomic<bool> g_shown{false};
bool g_installed = false;

// Runs on a thread of its own that Windows starts for Ctrl-C or Ctrl-Break;
// returning FALSE lets the default handler end the process as before.
BOOL WINAPI erase_on_ctrl(DWORD) {
  if (g_shown.exchange(false)) {
    DWORD written = 0;
    WriteFile(GetStdHandle(STD_ERROR_HANDLE), "\r\x1b[K", 4, &written, nullptr);
  }
  return FALSE;
}

}  // namespace

bool stderr_is_terminal() {
  HANDLE h = GetStdHandle(STD_ERROR_HANDLE);
  DWORD mode = 0;
  if (h == INVALID_HANDLE_VALUE || !GetConsoleMode(h, &mode)) return false;
  if ((mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0) return true;
  // Consoles before Windows 10 cannot move within a line by escape
  // sequences: no line there rather than garbage.
  return SetConsoleMode(h, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0;
}

std::size_t stderr_columns() {
  CONSOLE_SCREEN_BUFFER_INFO info{};
  if (!GetConsoleScreenBufferInfo(GetStdHandle(STD_ERROR_HANDLE), &info)) {
    return 80;
  }
  const int width = info.srWindow.Right - info.srWindow.Left + 1;
  return width > 0 ? static_cast<std::size_t>(width) : 80;
}

// Windows delivers no signals to threads: Ctrl-C gets a thread of its own.
std::thread thread_without_signals(std::function<void()> body) {
  return std::thread(std::move(body));
}

void erase_line_on_signal(bool active) {
  if (active == g_installed) return;
  if (SetConsoleCtrlHandler(erase_on_ctrl, active ? TRUE : FALSE)) {
    g_installed = active;
  }
}

void set_line_shown(bool shown) {
  g_shown.store(shown);
}

}  // namespace filelock::cli::terminal
