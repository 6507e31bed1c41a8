// What every build has, with or without the etcd backend: the error
// category, lock names, options from the environment, and the monitor.
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "etcd/backend_etcd.hpp"
#include "filelock/etcd.hpp"

namespace filelock::etcd {

namespace {

class category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "filelock.etcd"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::unavailable:
        return "no etcd endpoint answers";
      case errc::access_denied:
        return "etcd denied access";
      case errc::bad_name:
        return "not an etcd lock name (etcd://HOST:PORT/NAME, "
               "etcds://HOST:PORT/NAME or etcd:NAME)";
      case errc::bad_reply:
        return "unexpected reply from etcd";
      case errc::server_error:
        return "etcd refused the request";
      case errc::not_built:
        return "filelock was built without etcd support";
      case errc::curl_unavailable:
        return "etcd support needs libcurl, which cannot be loaded";
      case errc::no_endpoints:
        return "none is configured";
    }
    return "unknown etcd error";
  }
};

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string first_env(const char* ours, const char* etcdctl) {
  auto v = env(ours);
  return v.empty() ? env(etcdctl) : v;
}

[[noreturn]] void bad_name(std::string_view name) {
  throw error("use", std::string(name), make_error_code(errc::bad_name));
}

void add_endpoints(std::string_view list, std::string_view scheme,
                   std::vector<std::string>& out) {
  std::size_t start = 0;
  while (start <= list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    auto item = list.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '/')) {
      item.remove_suffix(1);
    }
    if (!item.empty()) {
      std::string url(item);
      if (url.find("://") == std::string::npos) {
        url.insert(0, std::string(scheme).append("://"));
      }
      out.push_back(std::move(url));
    }
    start = comma + 1;
  }
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

bool is_etcd_name(std::string_view name) noexcept {
  return name.starts_with("etcd:") || name.starts_with("etcds://");
}

location parse_name(std::string_view name, std::string_view default_endpoints) {
  location where;
  std::string_view rest;
  if (name.starts_with("etcd://") || name.starts_with("etcds://")) {
    bool tls = name.starts_with("etcds://");
    rest = name.substr(tls ? 8 : 7);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) bad_name(name);
    add_endpoints(rest.substr(0, slash), tls ? "https" : "http",
                  where.endpoints);
    rest = rest.substr(slash + 1);
  } else if (name.starts_with("etcd:")) {
    rest = name.substr(5);
    std::string list(default_endpoints);
    if (list.empty())
      list = first_env("FILELOCK_ETCD_ENDPOINTS", "ETCDCTL_ENDPOINTS");
    add_endpoints(list, "http", where.endpoints);
    if (where.endpoints.empty()) {
      throw error(
          "find etcd endpoints (--etcd-endpoints, FILELOCK_ETCD_ENDPOINTS "
          "or ETCDCTL_ENDPOINTS) for",
          std::string(name), make_error_code(errc::no_endpoints));
    }
  } else {
    bad_name(name);
  }
  if (where.endpoints.empty() || rest.empty() || rest.back() == '/') {
    bad_name(name);
  }
  where.name = std::string(rest);
  return where;
}

void apply_environment(options& o) {
  if (o.user.empty()) {
    o.user = first_env("FILELOCK_ETCD_USER", "ETCDCTL_USER");
    // etcdctl's --user form "name:password".
    if (auto colon = o.user.find(':'); colon != std::string::npos) {
      if (o.password.empty()) o.password = o.user.substr(colon + 1);
      o.user.resize(colon);
    }
  }
  if (o.password.empty()) {
    o.password = first_env("FILELOCK_ETCD_PASSWORD", "ETCDCTL_PASSWORD");
  }
  if (auto file = env("FILELOCK_ETCD_PASSWORD_FILE");
      o.password.empty() && !file.empty()) {
    std::ifstream in(file);
    if (!in) {
      throw error("read the etcd password file", file,
                  std::error_code(errno, std::generic_category()));
    }
    std::getline(in, o.password);
  }
  if (o.ca_file.empty()) {
    o.ca_file = first_env("FILELOCK_ETCD_CACERT", "ETCDCTL_CACERT");
  }
  if (o.cert_file.empty()) {
    o.cert_file = first_env("FILELOCK_ETCD_CERT", "ETCDCTL_CERT");
  }
  if (o.key_file.empty()) {
    o.key_file = first_env("FILELOCK_ETCD_KEY", "ETCDCTL_KEY");
  }
}

std::string lease_monitor::lost_reason() const {
  std::lock_guard lk(mutex_);
  return reason_;
}

steady_clock::time_point lease_monitor::confirmed_at() const noexcept {
  return steady_clock::time_point(steady_clock::duration(confirmed_.load()));
}

}  // namespace filelock::etcd

namespace filelock::detail {

bool names_etcd(const std::filesystem::path& path) noexcept {
  try {
    return etcd::is_etcd_name(path.string());
  } catch (...) {
    return false;  // not representable as a narrow string: not our form
  }
}

}  // namespace filelock::detail
