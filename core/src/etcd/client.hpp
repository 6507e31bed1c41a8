// A small client for etcd's v3 JSON gateway (grpc-gateway): one POST per
// call on a kept-alive connection, and a streamed POST for watches.
//
// Gateway quirks it absorbs (measured on etcd 3.4.23, see the notes in the
// issue): keys and values are base64; every int64 comes back as a JSON
// string; fields whose value is zero, false or empty are omitted; errors are
// {"error","message","code"} with a gRPC code and a lossy HTTP status.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "filelock/etcd.hpp"

namespace filelock::etcd::detail {

using json = nlohmann::json;

std::string base64_encode(std::string_view in);
// Throws bad_reply on malformed input.
std::string base64_decode(std::string_view in);

// int64 fields: a JSON string, a number, or absent (zero).
std::int64_t int_field(const json& j, const char* name);
// A key's value: the prefix with its last byte incremented, the range_end
// that selects everything under the prefix.
std::string prefix_end(std::string_view prefix);

// What one failed call is about, carried to the result's detail.
class call_error : public std::system_error {
 public:
  call_error(std::error_code ec, std::string detail, int grpc_code = 0)
      : std::system_error(ec, detail),
        detail_(std::move(detail)),
        grpc_code_(grpc_code) {}
  const std::string& detail() const noexcept { return detail_; }
  int grpc_code() const noexcept { return grpc_code_; }

 private:
  std::string detail_;
  int grpc_code_;
};

inline constexpr int kGrpcNotFound = 5;

// The parts of options every client of one lock shares, plus the endpoint
// that answered last and the auth token, which all its threads reuse.
struct config {
  std::vector<std::string> endpoints;
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{2000};
  std::string ca_file, cert_file, key_file;
  bool insecure = false;
  std::string user, password;
  std::function<void(std::string_view)> on_diagnostic;

  std::mutex mutex;
  std::size_t current = 0;
  std::string token;
};

std::shared_ptr<config> make_config(const location& where, const options& o);

// Asked between polls whether to give up; a transfer given up returns
// interrupted.
using stop_check = std::function<bool()>;
enum class outcome { done, interrupted, timed_out };

struct curl_api;

// One per thread: it owns a libcurl multi handle (whose pool keeps the
// connection alive between calls) and is never shared. wakeup() is the one
// member other threads may call, to make a blocked call look at its
// stop_check at once.
class client {
 public:
  explicit client(std::shared_ptr<config> cfg);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // POSTs body to path (e.g. "/v3/kv/range") and returns the reply,
  // failing over to the next endpoint when one does not answer. Throws
  // call_error (unavailable, access_denied, server_error, bad_reply).
  json call(std::string_view path, const json& body,
            std::chrono::milliseconds timeout = {});

  // The same, but a reply the gateway streams: on_message gets each JSON
  // object ("result" unwrapped) and returns false to end the stream. An
  // array body is sent as its elements, one message each: several watches
  // on one stream.
  // Returns done when on_message ended it, interrupted when stop said so,
  // timed_out at until. A stream that breaks throws call_error.
  outcome stream(std::string_view path, const json& body,
                 const std::function<bool(const json&)>& on_message,
                 const stop_check& stop,
                 std::chrono::steady_clock::time_point until);

  void wakeup() noexcept;
  // Makes call() give up (call_error unavailable, "interrupted") once
  // stop says so; pair it with wakeup() from the thread that stops.
  void set_stop(stop_check stop) { stop_ = std::move(stop); }

  // The endpoint the last call went to.
  std::string endpoint() const;

 private:
  struct raw_reply;
  raw_reply post(const std::string& url, const std::string& body,
                 const std::string& token, std::chrono::milliseconds timeout,
                 const std::function<bool(std::string_view)>* sink,
                 const stop_check* stop,
                 std::chrono::steady_clock::time_point until);
  json call_once(std::size_t endpoint, std::string_view path,
                 const std::string& body, std::chrono::milliseconds timeout,
                 bool retry_auth);
  std::string token_for(std::size_t endpoint);
  void authenticate(std::size_t endpoint);

  std::shared_ptr<config> cfg_;
  stop_check stop_;
  const curl_api* curl_;
  void* multi_;
  void* easy_;
};

// Stops c's calls once stop is requested (client::set_stop) and, where a
// stop callback is safe (platform.hpp), wakes its poll at once; elsewhere
// the poll's own 250 ms cap notices the request.
class stop_wakeup {
 public:
  stop_wakeup(const std::stop_token& stop, client& c);

 private:
  struct waker {
    client* c;
    void operator()() const noexcept { c->wakeup(); }
  };
  std::stop_token stop_;
  std::optional<std::stop_callback<waker>> wake_;
};

}  // namespace filelock::etcd::detail
