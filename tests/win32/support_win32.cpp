#include "support_win32.hpp"

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>

#include <stdexcept>

#include "win32/win32.hpp"

namespace filelock::test::win {
namespace {

using filelock::detail::win32::widen;

// The C runtime's rules, written independently of cli/process_win32.cpp
// so that the round-trip test compares two readings of the rules.
std::wstring quote(const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    return arg;
  }
  std::wstring out = L"\"";
  for (std::size_t i = 0;; ++i) {
    std::size_t slashes = 0;
    while (i < arg.size() && arg[i] == L'\\') {
      ++slashes;
      ++i;
    }
    if (i == arg.size()) {
      out.append(slashes * 2, L'\\');
      break;
    }
    if (arg[i] == L'"') {
      out.append(slashes * 2 + 1, L'\\');
    } else {
      out.append(slashes, L'\\');
    }
    out += arg[i];
  }
  return out + L"\"";
}

}  // namespace

std::wstring command_line_for(const std::vector<std::string>& argv) {
  std::wstring line = L"\"" + widen(argv.front()) + L"\"";
  for (std::size_t i = 1; i < argv.size(); ++i)
    line += L" " + quote(widen(argv[i]));
  return line;
}

temp_dir::temp_dir() {
  // GetTempFileNameW finds a fresh name by creating a file there; the
  // directory takes the name over.
  const auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    wchar_t name[MAX_PATH + 1] = {};
    if (GetTempFileNameW(base.c_str(), L"flk", 0, name) == 0) break;
    DeleteFileW(name);
    if (CreateDirectoryW(name, nullptr)) {
      path_ = name;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

child::child(const std::vector<std::string>& argv) {
  SECURITY_ATTRIBUTES inheritable{sizeof inheritable, nullptr, TRUE};
  HANDLE read_end = nullptr, write_end = nullptr;
  if (!CreatePipe(&read_end, &write_end, &inheritable, 0)) {
    throw std::runtime_error("CreatePipe failed");
  }
  SetHandleInformation(read_end, HANDLE_FLAG_INHERIT, 0);
  STARTUPINFOW si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = write_end;
  si.hStdError = write_end;
  PROCESS_INFORMATION pi{};
  std::wstring line = command_line_for(argv);
  const BOOL ok = CreateProcessW(nullptr, line.data(), nullptr, nullptr, TRUE,
                                 0, nullptr, nullptr, &si, &pi);
  CloseHandle(write_end);
  if (!ok) {
    CloseHandle(read_end);
    throw std::runtime_error("cannot start " + argv.front());
  }
  CloseHandle(pi.hThread);
  process_ = pi.hProcess;
  pid_ = pi.dwProcessId;
  out_ = read_end;
}

child::~child() {
  if (process_ != nullptr) {
    kill();
    CloseHandle(static_cast<HANDLE>(process_));
  }
  if (out_ != nullptr) CloseHandle(static_cast<HANDLE>(out_));
}

bool child::read_line(std::string& line) {
  line.clear();
  for (;;) {
    const auto nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
    char buf[512];
    DWORD n = 0;
    if (!ReadFile(static_cast<HANDLE>(out_), buf, sizeof buf, &n, nullptr) ||
        n == 0) {
      line = buffered_;
      buffered_.clear();
      return !line.empty();
    }
    buffered_.append(buf, n);
  }
}

bool child::wait_locked() {
  std::string line;
  while (read_line(line)) {
    if (line == "locked") return true;
  }
  return false;
}

std::string child::rest() {
  std::string all, line;
  while (read_line(line)) all += line + "\n";
  return all;
}

int child::wait() {
  WaitForSingleObject(static_cast<HANDLE>(process_), INFINITE);
  DWORD code = 0;
  GetExitCodeProcess(static_cast<HANDLE>(process_), &code);
  return static_cast<int>(code);
}

bool child::exited_within(std::chrono::milliseconds t) {
  return WaitForSingleObject(static_cast<HANDLE>(process_),
                             static_cast<DWORD>(t.count())) == WAIT_OBJECT_0;
}

void child::kill() {
  TerminateProcess(static_cast<HANDLE>(process_), 137);
  WaitForSingleObject(static_cast<HANDLE>(process_), INFINITE);
}

outcome run(const std::vector<std::string>& argv) {
  child c(argv);
  outcome o;
  o.output = c.rest();
  o.status = c.wait();
  return o;
}

std::string filelock_exe() {
  return FILELOCK_BIN;
}
std::string helper_exe() {
  return FILELOCK_TEST_HELPER;
}
std::string echo_args_exe() {
  return FILELOCK_ECHO_ARGS;
}
std::string msvcrt_lock_exe() {
  return FILELOCK_MSVCRT_LOCK;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

}  // namespace filelock::test::win
