// A small program for the Windows tests of `filelock run`:
//   echo_args ARG...             prints each argument, as CommandLineToArgvW
//                                reads its command line, one "[ARG]" a line
//   echo_args --exit N           exits with status N (any 32-bit value)
//   echo_args --env NAME         prints the variable's value
//   echo_args --sleep SECONDS    prints "locked" (it runs under the lock),
//                                then sleeps
//   echo_args --pid-file FILE SECONDS
//                                writes its pid to FILE, then sleeps
//   echo_args --find-handle FILE prints "inherited" when one of the
//                                handles this process started with refers
//                                to FILE, else "none"
//   echo_args --critical DIR     enters a critical section checked by a
//                                marker file: fails (exit 3) if another
//                                process is inside, else adds one to
//                                DIR/counter
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
// After windows.h, which it needs.
#include <shellapi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

std::string narrow(const wchar_t* w) {
  const int n =
      WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, out.data(), n, nullptr, nullptr);
  out.resize(out.size() - 1);
  return out;
}

int critical(const std::string& dir) {
  const std::string marker = dir + "\\inside";
  HANDLE h = CreateFileA(marker.c_str(), GENERIC_WRITE, 0, nullptr, CREATE_NEW,
                         FILE_FLAG_DELETE_ON_CLOSE, nullptr);
  if (h == INVALID_HANDLE_VALUE) return 3;  // someone else is inside
  long value = 0;
  {
    std::ifstream in(dir + "\\counter");
    in >> value;
  }
  Sleep(20);
  std::ofstream(dir + "\\counter", std::ios::binary | std::ios::trunc)
      << value + 1 << '\n';
  CloseHandle(h);
  return 0;
}

// Handle values are multiples of 4; an inherited handle keeps its value,
// so looking at the small ones finds it without knowing it.
bool has_handle_to(const wchar_t* path) {
  HANDLE f = CreateFileW(path, 0,
                         FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         nullptr, OPEN_EXISTING, 0, nullptr);
  if (f == INVALID_HANDLE_VALUE) return false;
  BY_HANDLE_FILE_INFORMATION want{};
  GetFileInformationByHandle(f, &want);
  bool found = false;
  for (std::uintptr_t v = 4; v < 0x4000 && !found; v += 4) {
    auto h = reinterpret_cast<HANDLE>(v);
    BY_HANDLE_FILE_INFORMATION got{};
    if (h == f || !GetFileInformationByHandle(h, &got)) continue;
    found = got.dwVolumeSerialNumber == want.dwVolumeSerialNumber &&
            got.nFileIndexHigh == want.nFileIndexHigh &&
            got.nFileIndexLow == want.nFileIndexLow;
  }
  CloseHandle(f);
  return found;
}

}  // namespace

int main() {
  int argc = 0;
  wchar_t** wargv = CommandLineToArgvW(GetCommandLineW(), &argc);
  if (wargv == nullptr) return 70;
  const std::string first = argc > 1 ? narrow(wargv[1]) : "";
  if (first == "--exit" && argc == 3) {
    return static_cast<int>(std::strtoul(narrow(wargv[2]).c_str(), nullptr, 0));
  }
  if (first == "--env" && argc == 3) {
    const wchar_t* v = _wgetenv(wargv[2]);
    std::printf("%s\n", v ? narrow(v).c_str() : "(unset)");
    return 0;
  }
  if (first == "--sleep" && argc == 3) {
    std::printf("locked\n");
    std::fflush(stdout);
    Sleep(static_cast<DWORD>(std::atof(narrow(wargv[2]).c_str()) * 1000));
    return 0;
  }
  if (first == "--pid-file" && argc == 4) {
    std::ofstream(narrow(wargv[2])) << GetCurrentProcessId() << '\n';
    Sleep(static_cast<DWORD>(std::atof(narrow(wargv[3]).c_str()) * 1000));
    return 0;
  }
  if (first == "--critical" && argc == 3) return critical(narrow(wargv[2]));
  if (first == "--find-handle" && argc == 3) {
    std::printf("%s\n", has_handle_to(wargv[2]) ? "inherited" : "none");
    return 0;
  }
  for (int i = 1; i < argc; ++i)
    std::printf("[%s]\n", narrow(wargv[i]).c_str());
  return 0;
}
