#include <string>

#include "win32/win32.hpp"

namespace filelock::detail::win32 {

std::string narrow(std::wstring_view text) {
  if (text.empty()) return {};
  const int len = static_cast<int>(text.size());
  const int n = WideCharToMultiByte(CP_UTF8, 0, text.data(), len, nullptr, 0,
                                    nullptr, nullptr);
  std::string out(static_cast<std::size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, text.data(), len, out.data(), n, nullptr,
                      nullptr);
  return out;
}

std::wstring widen(std::string_view text) {
  if (text.empty()) return {};
  const int len = static_cast<int>(text.size());
  const int n = MultiByteToWideChar(CP_UTF8, 0, text.data(), len, nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, text.data(), len, out.data(), n);
  return out;
}

std::error_code error_code_of(DWORD err) noexcept {
  // A Win32 error with an errno equivalent (the runtime's own mapping:
  // ERROR_ACCESS_DENIED is EACCES, ERROR_PATH_NOT_FOUND is ENOENT) is
  // reported as that errno, so that messages, exit statuses and callers'
  // comparisons read the same as on POSIX. Others keep their Win32 code.
  const int code = static_cast<int>(err);
  const auto cond = std::system_category().default_error_condition(code);
  if (cond.category() == std::generic_category()) {
    return {cond.value(), std::generic_category()};
  }
  return {code, std::system_category()};
}

long last_nt_status() noexcept {
  using fn = long(WINAPI*)();
  static const fn get = [] {
    const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    FARPROC p = ntdll ? GetProcAddress(ntdll, "RtlGetLastNtStatus") : nullptr;
    // Through void(*)(), the cast GCC accepts between function types.
    return reinterpret_cast<fn>(reinterpret_cast<void (*)()>(p));
  }();
  return get ? get() : 0;
}

bool running_under_wine() noexcept {
  static const bool wine = [] {
    const HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    return ntdll && GetProcAddress(ntdll, "wine_get_version") != nullptr;
  }();
  return wine;
}

namespace {

bool starts_with(const std::wstring& s, std::wstring_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::wstring wide_path(const std::filesystem::path& path, std::error_code& ec) {
  const std::wstring& in = path.native();
  if (in.empty()) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return {};
  }
  if (starts_with(in, L"\\\\?\\") || starts_with(in, L"\\\\.\\")) return in;
  // GetFullPathNameW resolves "." and ".." and turns '/' into '\', which
  // the \\?\ form would otherwise take literally.
  DWORD n = GetFullPathNameW(in.c_str(), 0, nullptr, nullptr);
  std::wstring full(n, L'\0');
  if (n != 0) n = GetFullPathNameW(in.c_str(), n, full.data(), nullptr);
  if (n == 0 || n >= full.size()) {
    ec = last_error();
    if (!ec) ec = std::make_error_code(std::errc::filename_too_long);
    return {};
  }
  full.resize(n);
  if (starts_with(full, L"\\\\.\\")) return full;  // a device: NUL, CON
  if (starts_with(full, L"\\\\")) return L"\\\\?\\UNC\\" + full.substr(2);
  return L"\\\\?\\" + full;
}

}  // namespace filelock::detail::win32
