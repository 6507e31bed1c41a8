// Windows implementation of process.hpp: CreateProcessW, a job object that
// kills the command when filelock dies, and console control events.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
// After windows.h, which they need.
#include <shellapi.h>
#include <tlhelp32.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"
#include "win32/win32.hpp"

namespace filelock::cli {
namespace {

// The core's UTF-8 <-> UTF-16 conversions, the one pair in the code base.
using filelock::detail::win32::narrow;
using filelock::detail::win32::widen;

struct handle_closer {
  void operator()(HANDLE h) const {
    if (h != nullptr && h != INVALID_HANDLE_VALUE) CloseHandle(h);
  }
};
using unique_handle = std::unique_ptr<void, handle_closer>;

// One argument as the C runtime and CommandLineToArgvW read it back:
// quoted when it holds blanks or quotes or is empty; backslashes are
// literal except in front of a quote, where each must be doubled, and a
// quote of the argument itself is escaped with a backslash.
void append_quoted(std::wstring& line, const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    line += arg;
    return;
  }
  line += L'"';
  std::size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    if (c == L'"') backslashes = backslashes * 2 + 1;
    line.append(backslashes, L'\\');
    backslashes = 0;
    line += c;
  }
  // Before the closing quote, every backslash must be doubled.
  line.append(backslashes * 2, L'\\');
  line += L'"';
}

std::string comspec() {
  const char* c = std::getenv("ComSpec");
  return c != nullptr && *c != '\0' ? c : "cmd.exe";
}

// cmd.exe does not parse its command line by the C runtime's rules: with
// /s, it drops the first and the last quote after /c and runs the rest as
// it stands. So the shell's command goes onto the line verbatim.
bool is_shell_argv(const std::vector<std::string>& argv) {
  return argv.size() == 5 && argv[0] == comspec() && argv[1] == "/d" &&
         argv[2] == "/s" && argv[3] == "/c";
}

std::wstring command_line(const std::vector<std::string>& argv) {
  std::wstring line;
  // The program name is read up to the next blank (or closing quote),
  // without backslash rules, so it is only ever wrapped in quotes.
  const std::wstring program = widen(argv.front());
  if (program.find_first_of(L" \t") != std::wstring::npos) {
    line += L'"' + program + L'"';
  } else {
    line += program;
  }
  if (is_shell_argv(argv)) {
    return line + L" /d /s /c \"" + widen(argv[4]) + L"\"";
  }
  for (std::size_t i = 1; i < argv.size(); ++i) {
    line += L' ';
    append_quoted(line, widen(argv[i]));
  }
  return line;
}

void apply_env(const std::vector<std::string>& env) {
  for (const auto& kv : env) {
    const auto eq = kv.find('=');
    SetEnvironmentVariableW(widen(kv.substr(0, eq)).c_str(),
                            widen(kv.substr(eq + 1)).c_str());
  }
}

int errno_of(DWORD err) {
  switch (err) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_NAME:
    case ERROR_DIRECTORY:
      return ENOENT;
    case ERROR_ACCESS_DENIED:
      return EACCES;
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_EXE_MACHINE_TYPE_MISMATCH:
      return ENOEXEC;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
      return ENOMEM;
    case ERROR_FILENAME_EXCED_RANGE:
      return ENAMETOOLONG;
    default:
      return EINVAL;
  }
}

// The job that ties the command's life to ours: closing its last handle,
// which the kernel does when filelock dies however it dies, kills every
// process in it. The handle is not inheritable, so the command cannot keep
// the job (and itself) alive.
unique_handle make_job() {
  unique_handle job(CreateJobObjectW(nullptr, nullptr));
  if (!job) return job;
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation,
                               &limits, sizeof limits)) {
    job.reset();
  }
  return job;
}

// The console sends Ctrl-C and Ctrl-Break to every process attached to it,
// the command included; we stay alive (and keep the lock) until the command
// has decided what to do about them. A handler, not SetConsoleCtrlHandler
// (nullptr, TRUE), because the latter would be inherited by the command.
BOOL WINAPI ignore_interrupts(DWORD event) {
  return event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT ? TRUE : FALSE;
}

// The handles the command may inherit: our standard handles, and the lock
// when asked (--inherit). Everything else we have open stays ours, even
// handles another library made inheritable.
std::vector<HANDLE> inheritable(const child_spec& spec) {
  std::vector<HANDLE> out;
  for (DWORD which : {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE}) {
    HANDLE h = GetStdHandle(which);
    if (h == nullptr || h == INVALID_HANDLE_VALUE) continue;
    if (std::find(out.begin(), out.end(), h) != out.end()) continue;
    if (SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
      out.push_back(h);
    }
  }
  if (spec.inherit_fd >= 0) {
    auto h =
        reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(spec.inherit_fd));
    if (SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
      out.push_back(h);
    }
  }
  return out;
}

struct started {
  unique_handle process;
  DWORD error = 0;
};

started start(const child_spec& spec, HANDLE job) {
  std::wstring line = command_line(spec.argv);
  std::vector<HANDLE> handles = inheritable(spec);

  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.StartupInfo.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
  si.StartupInfo.hStdError = GetStdHandle(STD_ERROR_HANDLE);

  SIZE_T size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
  std::vector<char> storage(size);
  auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage.data());
  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT;
  bool have_list = false;
  if (!handles.empty() &&
      InitializeProcThreadAttributeList(list, 1, 0, &size)) {
    have_list = UpdateProcThreadAttribute(
                    list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles.data(),
                    handles.size() * sizeof(HANDLE), nullptr, nullptr) != 0;
    if (have_list) {
      si.lpAttributeList = list;
      flags |= EXTENDED_STARTUPINFO_PRESENT;
    } else {
      DeleteProcThreadAttributeList(list);
    }
  }

  PROCESS_INFORMATION pi{};
  const BOOL ok = CreateProcessW(nullptr, line.data(), nullptr, nullptr,
                                 handles.empty() ? FALSE : TRUE, flags, nullptr,
                                 nullptr, &si.StartupInfo, &pi);
  started out;
  out.error = ok ? 0 : GetLastError();
  if (have_list) DeleteProcThreadAttributeList(list);
  if (spec.inherit_fd >= 0) {
    SetHandleInformation(
        reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(spec.inherit_fd)),
        HANDLE_FLAG_INHERIT, 0);
  }
  if (!ok) return out;

  unique_handle thread(pi.hThread);
  out.process.reset(pi.hProcess);
  // Suspended until it is in the job, so it never runs outside it.
  if (job == nullptr || !AssignProcessToJobObject(job, pi.hProcess)) {
    out.error = job == nullptr ? ERROR_INVALID_HANDLE : GetLastError();
    TerminateProcess(pi.hProcess, 1);
    WaitForSingleObject(pi.hProcess, INFINITE);
    out.process.reset();
    return out;
  }
  ResumeThread(pi.hThread);
  return out;
}

// Waits for the command, calling on_tick on schedule. Windows has no
// SIGTERM for a console program, so a tick that asks for the end, or the
// end of max_runtime, terminates the job (the command's whole tree) with
// status 143, which is what POSIX reports for a command ended by SIGTERM.
// Returns whether max_runtime ran out.
bool wait_for(HANDLE process, HANDLE job, const child_spec& spec) {
  using std::chrono::steady_clock;
  const bool ticking = spec.on_tick && spec.tick_interval.count() > 0;
  const bool limited = spec.max_runtime.count() > 0;
  const auto start = steady_clock::now();
  auto next_tick = start + spec.tick_interval;
  const auto deadline = start + spec.max_runtime;
  bool terminated = false;
  bool timed_out = false;
  for (;;) {
    DWORD wait = INFINITE;
    if (ticking || (limited && !terminated)) {
      auto until = ticking ? next_tick : deadline;
      if (limited && !terminated && deadline < until) until = deadline;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          until - steady_clock::now());
      wait = static_cast<DWORD>(std::clamp<std::int64_t>(
          left.count(), 0, static_cast<std::int64_t>(INFINITE) - 1));
    }
    if (WaitForSingleObject(process, wait) != WAIT_TIMEOUT) return timed_out;
    const auto now = steady_clock::now();
    if (limited && !terminated && now >= deadline) {
      TerminateJobObject(job, 143);
      terminated = true;
      timed_out = true;
    }
    if (ticking && now >= next_tick) {
      next_tick += spec.tick_interval;
      if (!spec.on_tick() && !terminated) {
        TerminateJobObject(job, 143);
        terminated = true;
      }
    }
  }
}

}  // namespace

std::vector<std::string> shell_argv(const std::string& command) {
  return {comspec(), "/d", "/s", "/c", command};
}

std::vector<std::string> user_shell_argv(const std::string& command) {
  return shell_argv(command);
}

child_result run_child(const child_spec& spec) {
  apply_env(spec.env);
  unique_handle job = make_job();
  SetConsoleCtrlHandler(ignore_interrupts, TRUE);
  started s = start(spec, job.get());
  child_result result;
  if (!s.process) {
    SetConsoleCtrlHandler(ignore_interrupts, FALSE);
    result.status = child_result::how::not_started;
    result.start_error = errno_of(s.error);
    return result;
  }
  result.timed_out = wait_for(s.process.get(), job.get(), spec);
  DWORD code = 0;
  GetExitCodeProcess(s.process.get(), &code);
  SetConsoleCtrlHandler(ignore_interrupts, FALSE);
  // The whole 32-bit status (0xC000013A after Ctrl-C, say) passes through.
  result.code = static_cast<int>(code);
  return result;
}

// Windows cannot replace a process with another, and a byte-range lock
// belongs to the process that took it, not to an inherited handle. So the
// command runs as a child while this process holds the lock and waits,
// and this process then ends with the command's status.
int exec_in_place(const child_spec& spec) {
  child_spec plain = spec;
  plain.inherit_fd = -1;
  const child_result r = run_child(plain);
  if (r.status == child_result::how::not_started) return r.start_error;
  std::fflush(nullptr);
  ExitProcess(static_cast<UINT>(r.code));
}

namespace {

std::string key_of(HANDLE h) {
  BY_HANDLE_FILE_INFORMATION info{};
  if (!GetFileInformationByHandle(h, &info)) return {};
  const auto index =
      (std::uint64_t{info.nFileIndexHigh} << 32) | info.nFileIndexLow;
  return std::to_string(info.dwVolumeSerialNumber) + ":" +
         std::to_string(index);
}

}  // namespace

std::string file_key(int fd) {
  return key_of(reinterpret_cast<HANDLE>(static_cast<std::intptr_t>(fd)));
}

std::string file_key_of_path(const std::string& path) {
  unique_handle h(CreateFileW(
      widen(path).c_str(), FILE_READ_ATTRIBUTES,
      FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
      OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS,
      nullptr));
  if (h.get() == INVALID_HANDLE_VALUE) {
    h.release();
    return {};
  }
  return key_of(h.get());
}

namespace {

std::uint64_t creation_time(DWORD pid) {
  unique_handle p(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  FILETIME created{}, exited{}, kernel{}, user{};
  if (!p || !GetProcessTimes(p.get(), &created, &exited, &kernel, &user)) {
    return 0;
  }
  return (std::uint64_t{created.dwHighDateTime} << 32) | created.dwLowDateTime;
}

}  // namespace

std::vector<std::string> utf8_arguments(int, char**) {
  int argc = 0;
  wchar_t** wargv = CommandLineToArgvW(GetCommandLineW(), &argc);
  std::vector<std::string> out;
  for (int i = 1; wargv != nullptr && i < argc; ++i) {
    out.push_back(narrow(wargv[i]));
  }
  LocalFree(wargv);
  return out;
}

std::filesystem::path utf8_path(const std::string& text) {
  return std::filesystem::path(widen(text));
}

std::int64_t current_pid() {
  return GetCurrentProcessId();
}

std::int64_t parent_pid() {
  unique_handle snap(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (snap.get() == INVALID_HANDLE_VALUE) {
    snap.release();
    return 0;
  }
  const DWORD me = GetCurrentProcessId();
  PROCESSENTRY32W e{};
  e.dwSize = sizeof e;
  for (BOOL ok = Process32FirstW(snap.get(), &e); ok;
       ok = Process32NextW(snap.get(), &e)) {
    if (e.th32ProcessID != me) continue;
    // A parent id whose process started after us was reused: ours is gone.
    const auto parent_born = creation_time(e.th32ParentProcessID);
    if (parent_born == 0 || parent_born > creation_time(me)) return 0;
    return e.th32ParentProcessID;
  }
  return 0;
}

std::string host_name() {
  wchar_t buf[256] = {};
  DWORD size = 256;
  if (!GetComputerNameExW(ComputerNameDnsHostname, buf, &size)) return {};
  return narrow(std::wstring(buf, size));
}

// Windows keeps a process's parent id after the parent exits, and may hand
// that id to a new process: a "parent" that started after its child is an
// impostor, and the chain ends there.
bool is_ancestor(std::int64_t pid) {
  unique_handle snap(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0));
  if (snap.get() == INVALID_HANDLE_VALUE) {
    snap.release();
    return false;
  }
  std::map<DWORD, DWORD> parent;
  PROCESSENTRY32W e{};
  e.dwSize = sizeof e;
  for (BOOL ok = Process32FirstW(snap.get(), &e); ok;
       ok = Process32NextW(snap.get(), &e)) {
    parent[e.th32ProcessID] = e.th32ParentProcessID;
  }
  DWORD p = GetCurrentProcessId();
  std::uint64_t born = creation_time(p);
  for (int depth = 0; depth < 4096; ++depth) {
    const auto it = parent.find(p);
    if (it == parent.end() || it->second == 0) return false;
    const std::uint64_t parent_born = creation_time(it->second);
    if (parent_born == 0 || parent_born > born) return false;
    if (it->second == static_cast<DWORD>(pid)) return true;
    p = it->second;
    born = parent_born;
  }
  return false;
}

}  // namespace filelock::cli
