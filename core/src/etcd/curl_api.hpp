// libcurl, loaded when the first etcd lock is used rather than linked.
//
// Why: linked, libcurl and the libraries it needs (OpenSSL, nghttp2,
// libssh2, LDAP, Kerberos: 30 of them on Debian 12) were mapped and
// relocated at every start of every program using the core, and made
// `filelock run L -- true` three times slower than flock(1) and six times
// its memory, though a local lock never touches them (bench/README.md).
// Only the functions below are used, all of libcurl's stable ABI.
#pragma once

#include <curl/curl.h>

namespace filelock::etcd::detail {

struct curl_api {
  decltype(&::curl_global_init) global_init;
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
  decltype(&::curl_multi_init) multi_init;
  decltype(&::curl_multi_cleanup) multi_cleanup;
  decltype(&::curl_multi_add_handle) multi_add_handle;
  decltype(&::curl_multi_remove_handle) multi_remove_handle;
  decltype(&::curl_multi_perform) multi_perform;
  decltype(&::curl_multi_info_read) multi_info_read;
  decltype(&::curl_multi_poll) multi_poll;
  decltype(&::curl_multi_wakeup) multi_wakeup;
};

// Loads libcurl once per process (FILELOCK_LIBCURL names the file to load
// instead of the platform's usual names) and runs curl_global_init. Throws
// call_error with errc::curl_unavailable, its detail the loader's reason
// (which names the file), when the library or one of the functions is
// missing; every later call throws the same.
const curl_api& curl();

}  // namespace filelock::etcd::detail
