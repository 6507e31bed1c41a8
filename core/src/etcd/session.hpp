// One contender's lease and key: the renewal thread, the watch on the own
// key while held, and the holding behind a guard.
#pragma once

#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "etcd/client.hpp"
#include "filelock/etcd.hpp"
#include "holding.hpp"

namespace filelock::etcd::detail {

std::string lease_hex(std::int64_t lease);

class session : public filelock::detail::holding {
 public:
  // Grants the lease (blocking, through c) and starts renewing it at once.
  // Throws call_error.
  session(client& c, std::shared_ptr<config> cfg, const options& o,
          std::string lock_name, lock_mode mode);
  ~session() override;

  std::int64_t lease() const noexcept { return monitor_->lease_; }
  const std::shared_ptr<lease_monitor>& monitor() const noexcept {
    return monitor_;
  }
  void set_key(std::string key, std::int64_t fence);
  void set_slot(unsigned number) noexcept { monitor_->slot_ = number; }

  // Acquired: watch the own key from now on, and stop renewing when the
  // lease is meant to run out by itself (options::keep_alive false).
  void start_holding();
  // Gives up before holding (busy, timeout, stop, failure): stops the
  // threads and revokes the lease, best effort, which deletes the key.
  void abandon() noexcept;

  void mark_lost(const std::string& reason);

  // holding
  lock_mode mode() const noexcept override { return mode_; }
  const std::filesystem::path& path() const noexcept override { return name_; }
  int native_handle() const noexcept override { return -1; }
  unsigned slot() const noexcept override { return monitor_->slot_; }
  bool is_intact(std::error_code& ec) const noexcept override;
  std::string detach(std::error_code& ec) noexcept override;
  void release(std::error_code& ec) noexcept override;

 private:
  void renew(const std::stop_token& st);
  void watch_key(const std::stop_token& st);
  // Sleeps until `until` or a stop request.
  void pause_until(const std::stop_token& st,
                   std::chrono::steady_clock::time_point until);
  void stop_threads() noexcept;
  void revoke(std::error_code& ec) noexcept;
  void diagnose(const std::string& line) const noexcept;

  std::shared_ptr<config> cfg_;
  std::filesystem::path name_;
  lock_mode mode_;
  bool keep_alive_;
  std::function<void(std::string_view)> on_lost_;
  std::shared_ptr<lease_monitor> monitor_;

  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::jthread renewer_;
  std::jthread watcher_;
};

}  // namespace filelock::etcd::detail
