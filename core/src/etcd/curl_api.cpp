#include "etcd/curl_api.hpp"

#include <cstdlib>
#include <mutex>
#include <string>

#include "etcd/client.hpp"
#include "platform.hpp"

namespace filelock::etcd::detail {

namespace {

namespace platform = filelock::detail::platform;

struct loaded {
  curl_api api{};
  std::string error;  // empty when api is complete
};

// Not named bind: std::string arguments would make ADL pick std::bind.
template <class F>
bool bind_symbol(void* lib, const char* name, F& out, std::string& error,
                 const std::string& file) {
  out = reinterpret_cast<F>(platform::library_symbol(lib, name));
  if (out == nullptr && error.empty()) {
    error = file + " has no " + name + " (libcurl 7.68 or newer is needed)";
  }
  return out != nullptr;
}

loaded load() {
  loaded l;
  std::vector<std::string> names;
  const char* chosen = std::getenv("FILELOCK_LIBCURL");
  if (chosen && *chosen) {
    names.emplace_back(chosen);
  } else {
    names = platform::curl_library_names();
  }
  void* lib = nullptr;
  std::string file;
  for (const auto& name : names) {
    std::string why;
    lib = platform::open_library(name, why);
    if (lib) {
      file = name;
      break;
    }
    // The first reason is the one worth showing: later names are
    // fallbacks that are usually absent anyway.
    if (l.error.empty()) l.error = why;
  }
  if (!lib) return l;
  l.error.clear();
  auto& a = l.api;
  bind_symbol(lib, "curl_global_init", a.global_init, l.error, file);
  bind_symbol(lib, "curl_easy_init", a.easy_init, l.error, file);
  bind_symbol(lib, "curl_easy_cleanup", a.easy_cleanup, l.error, file);
  bind_symbol(lib, "curl_easy_reset", a.easy_reset, l.error, file);
  bind_symbol(lib, "curl_easy_setopt", a.easy_setopt, l.error, file);
  bind_symbol(lib, "curl_easy_getinfo", a.easy_getinfo, l.error, file);
  bind_symbol(lib, "curl_easy_strerror", a.easy_strerror, l.error, file);
  bind_symbol(lib, "curl_slist_append", a.slist_append, l.error, file);
  bind_symbol(lib, "curl_slist_free_all", a.slist_free_all, l.error, file);
  bind_symbol(lib, "curl_multi_init", a.multi_init, l.error, file);
  bind_symbol(lib, "curl_multi_cleanup", a.multi_cleanup, l.error, file);
  bind_symbol(lib, "curl_multi_add_handle", a.multi_add_handle, l.error, file);
  bind_symbol(lib, "curl_multi_remove_handle", a.multi_remove_handle, l.error,
              file);
  bind_symbol(lib, "curl_multi_perform", a.multi_perform, l.error, file);
  bind_symbol(lib, "curl_multi_info_read", a.multi_info_read, l.error, file);
  bind_symbol(lib, "curl_multi_poll", a.multi_poll, l.error, file);
  bind_symbol(lib, "curl_multi_wakeup", a.multi_wakeup, l.error, file);
  if (!l.error.empty()) return l;
  // curl_global_init must run before any thread uses libcurl; once is
  // enough for the process and it is never undone (other libraries in the
  // process may use libcurl too).
  if (CURLcode c = a.global_init(CURL_GLOBAL_DEFAULT); c != CURLE_OK) {
    l.error = file + ": curl_global_init failed: " + a.easy_strerror(c);
  }
  return l;
}

}  // namespace

const curl_api& curl() {
  static std::once_flag once;
  static loaded* state = nullptr;
  // Never destroyed: lease threads may still use libcurl during exit.
  std::call_once(once, [] { state = new loaded(load()); });
  if (!state->error.empty()) {
    throw call_error(make_error_code(errc::curl_unavailable), state->error);
  }
  return state->api;
}

}  // namespace filelock::etcd::detail
