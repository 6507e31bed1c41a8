#include "filelock/lock.hpp"

#include <thread>
#include <utility>

#include "backend.hpp"
#include "etcd/backend_etcd.hpp"
#include "fair.hpp"
#include "filelock/inspect.hpp"
#include "holding.hpp"
#include "platform.hpp"

namespace filelock {

std::string_view to_string(lock_mode mode) noexcept {
  return mode == lock_mode::shared ? "shared" : "exclusive";
}

std::string_view to_string(lock_kind kind) noexcept {
  switch (kind) {
    case lock_kind::os:
      return "os";
    case lock_kind::soft:
      return "soft";
    case lock_kind::automatic:
      return "auto";
  }
  return "os";
}

guard::guard(std::shared_ptr<detail::holding> h) noexcept
    : holding_(std::move(h)) {}

guard& guard::operator=(guard&& other) noexcept {
  if (this != &other) {
    std::error_code ignored;
    if (holding_) release(ignored);
    holding_ = std::move(other.holding_);
  }
  return *this;
}

guard::~guard() {
  std::error_code ignored;
  if (holding_) release(ignored);
}

lock_mode guard::mode() const noexcept {
  return holding_ ? holding_->mode() : lock_mode::exclusive;
}

const std::filesystem::path& guard::path() const noexcept {
  static const std::filesystem::path none;
  return holding_ ? holding_->path() : none;
}

int guard::native_handle() const noexcept {
  return holding_ ? holding_->native_handle() : -1;
}

bool guard::is_intact(std::error_code& ec) const noexcept {
  ec.clear();
  if (!holding_) {
    ec = make_error_code(errc::not_held);
    return false;
  }
  return holding_->is_intact(ec);
}

lock_kind guard::kind() const noexcept {
  return holding_ ? holding_->kind() : lock_kind::os;
}

unsigned guard::slot() const noexcept {
  return holding_ ? holding_->slot() : 0;
}

void guard::refresh(std::error_code& ec) noexcept {
  ec.clear();
  if (!holding_) {
    ec = make_error_code(errc::not_held);
    return;
  }
  holding_->refresh(ec);
}

void guard::refresh() {
  std::error_code ec;
  refresh(ec);
  if (ec) throw error("refresh", path(), ec);
}

std::string guard::detach() {
  if (!holding_) throw error("detach", {}, make_error_code(errc::not_held));
  std::error_code ec;
  auto token = holding_->detach(ec);
  if (ec) throw error("detach", path(), ec);
  holding_.reset();
  return token;
}

void guard::add_keeper(std::int64_t pid, std::error_code& ec) noexcept {
  if (!holding_) {
    ec = make_error_code(errc::not_held);
    return;
  }
  holding_->add_keeper(pid, ec);
}

void guard::release() {
  std::error_code ec;
  auto p = path();
  release(ec);
  if (ec) throw error("unlock", std::move(p), ec);
}

void guard::release_to_inheritors(std::error_code& ec) noexcept {
  ec.clear();
  if (!holding_) {
    ec = make_error_code(errc::not_held);
    return;
  }
  auto h = std::move(holding_);
  h->release_to_inheritors(ec);
}

void guard::release(std::error_code& ec) noexcept {
  ec.clear();
  if (!holding_) {
    ec = make_error_code(errc::not_held);
    return;
  }
  auto h = std::move(holding_);
  h->release(ec);
}

file_lock::file_lock(std::filesystem::path path, lock_options options)
    : path_(std::move(path)), options_(std::move(options)) {}

namespace detail {

acquire_result failed_result(std::string operation, std::error_code ec) {
  acquire_result r;
  r.status = acquire_status::failed;
  r.operation = std::move(operation);
  r.error = ec;
  return r;
}

void tell(const request& r, const std::string& line) noexcept {
  if (!r.options.on_diagnostic) return;
  try {
    r.options.on_diagnostic(line);
  } catch (...) {
  }
}

}  // namespace detail

namespace {

// automatic: the OS lock unless the filesystem refuses OS locks. That is
// asked of the directory, before the lock file exists: an empty file made
// by a failed OS attempt would look to the soft lock like a marker with an
// unknown owner, held forever.
acquire_result dispatch(const detail::request& r) noexcept {
  // etcd grants in arrival order already (see FAIR QUEUEING in lock.hpp).
  if (r.options.fair && !detail::names_etcd(r.path)) {
    return detail::fair_acquire(r);
  }
  if (r.options.slots) return detail::slots_acquire(r);
  // An etcd name is never a file path (see etcd.hpp), whatever the kind.
  if (detail::names_etcd(r.path)) return detail::etcd_acquire(r);
  switch (r.options.kind) {
    case lock_kind::os:
      return detail::os_acquire(r);
    case lock_kind::soft:
      return detail::soft_acquire(r);
    case lock_kind::automatic:
      break;
  }
  auto dir = r.path.parent_path();
  if (dir.empty()) dir = ".";
  if (!detail::platform::refuses_os_locks(dir)) return detail::os_acquire(r);
  if (r.options.on_diagnostic) {
    try {
      r.options.on_diagnostic("the filesystem of '" + dir.string() +
                              "' refuses OS locks: using a soft lock");
    } catch (...) {
    }
  }
  return detail::soft_acquire(r);
}

[[noreturn]] void throw_for(acquire_result& r, const std::filesystem::path& p) {
  switch (r.status) {
    case acquire_status::timed_out:
      throw timeout_error("lock", p, make_error_code(errc::timed_out));
    case acquire_status::busy:
      throw error("lock", p, make_error_code(errc::busy));
    case acquire_status::cancelled:
      throw error("lock", p, make_error_code(errc::cancelled));
    default:
      throw error(r.operation, p, r.error);
  }
}

}  // namespace

acquire_result file_lock::acquire_until(deadline until, lock_mode mode,
                                        const std::stop_token& stop) noexcept {
  return dispatch(
      {path_, mode, until, stop, options_, std::this_thread::get_id()});
}

guard file_lock::acquire(lock_mode mode, const std::stop_token& stop) {
  auto r = acquire_until(std::nullopt, mode, stop);
  if (!r.acquired()) throw_for(r, path_);
  return std::move(r.lock);
}

std::optional<guard> file_lock::try_acquire(lock_mode mode) {
  return try_acquire_until_steady(steady_clock::time_point::min(), mode, {});
}

std::optional<guard> file_lock::try_acquire_until_steady(
    steady_clock::time_point when, lock_mode mode,
    const std::stop_token& stop) {
  auto r = acquire_until(when, mode, stop);
  if (r.acquired()) return std::move(r.lock);
  if (r.status == acquire_status::busy ||
      r.status == acquire_status::timed_out) {
    return std::nullopt;
  }
  throw_for(r, path_);
}

std::future<guard> file_lock::acquire_async(lock_mode mode,
                                            std::stop_token stop,
                                            const executor& run_on) {
  auto promise = std::make_shared<std::promise<guard>>();
  auto future = promise->get_future();
  // Owned by the caller's thread: a later acquire by the caller counts up
  // instead of waiting on the lock its own future holds.
  auto task = [promise, path = path_, options = options_, mode,
               stop = std::move(stop), owner = std::this_thread::get_id()] {
    const deadline forever;
    auto r = dispatch({path, mode, forever, stop, options, owner});
    if (r.acquired()) {
      promise->set_value(std::move(r.lock));
      return;
    }
    try {
      throw_for(r, path);
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  };
  if (run_on) {
    run_on(std::move(task));
  } else {
    std::thread(std::move(task)).detach();
  }
  return future;
}

bool file_lock::holders_complete() const noexcept {
  if (options_.slots) return detail::platform::os_lock_holders_complete();
  if (options_.kind == lock_kind::soft || detail::names_etcd(path_)) {
    return true;
  }
  return detail::platform::os_lock_holders_complete();
}

std::vector<holder_info> file_lock::holders() const {
  if (options_.slots) return detail::slots_holders(path_);
  if (options_.kind == lock_kind::os || detail::names_etcd(path_)) {
    return detail::os_holders(path_);
  }
  return inspect(path_, options_.kind).holders;
}

}  // namespace filelock
