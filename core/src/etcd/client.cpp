#include "etcd/client.hpp"

#include "etcd/curl_api.hpp"
#include "platform.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <mutex>
#include <utility>

namespace filelock::etcd::detail {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

[[noreturn]] void bad_reply(std::string what) {
  throw call_error(make_error_code(errc::bad_reply), std::move(what));
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = static_cast<unsigned char>(in[i]) << 16 |
             static_cast<unsigned char>(in[i + 1]) << 8 |
             static_cast<unsigned char>(in[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) {
      out += kAlphabet[static_cast<std::size_t>(n >> shift & 63)];
    }
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += i + 1 < in.size() ? kAlphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) bad_reply("base64 text of odd length");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::array<int, 4> s{};
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      bool last_group = i + 4 == in.size();
      if (c == '=' && last_group && k >= 2) {
        ++pad;
        continue;
      }
      if (pad > 0 || (s[k] = sextet(c)) < 0) bad_reply("bad base64 text");
    }
    unsigned n =
        static_cast<unsigned>(s[0] << 18 | s[1] << 12 | s[2] << 6 | s[3]);
    out += static_cast<char>(n >> 16 & 0xff);
    if (pad < 2) out += static_cast<char>(n >> 8 & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::int64_t int_field(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    try {
      std::size_t used = 0;
      auto v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
  }
  bad_reply(std::string("field \"") + name + "\" is not an integer");
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = end.back();
    if (static_cast<unsigned char>(c) != 0xff) {
      c = static_cast<char>(static_cast<unsigned char>(c) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd's "from key" marker
}

std::shared_ptr<config> make_config(const location& where, const options& o) {
  // Loads libcurl (and runs curl_global_init) before any thread needs it;
  // a missing libcurl fails here, before a lease exists.
  curl();

  auto cfg = std::make_shared<config>();
  cfg->endpoints = where.endpoints;
  cfg->request_timeout = o.request_timeout;
  cfg->connect_timeout = o.connect_timeout;
  cfg->ca_file = o.ca_file;
  cfg->cert_file = o.cert_file;
  cfg->key_file = o.key_file;
  cfg->insecure = o.insecure_skip_tls_verify;
  cfg->user = o.user;
  cfg->password = o.password;
  cfg->on_diagnostic = o.on_diagnostic;
  return cfg;
}

struct client::raw_reply {
  CURLcode code = CURLE_OK;
  long status = 0;
  std::string body;
  std::string error;
  outcome result = outcome::done;
  bool ended_by_sink = false;
};

namespace {

struct sink_state {
  std::string* body;
  const std::function<bool(std::string_view)>* sink;
  std::string pending;
  bool ended = false;
  // An exception must not unwind through libcurl's C frames: it is kept
  // here, the transfer ended, and it is rethrown once libcurl returned.
  std::exception_ptr failure;
};

// Streams arrive as one JSON object per line; a line may be split across
// callbacks, so the tail is kept until its newline comes.
std::size_t on_data(char* data, std::size_t, std::size_t n, void* user) {
  auto* s = static_cast<sink_state*>(user);
  if (!s->sink) {
    s->body->append(data, n);
    return n;
  }
  s->pending.append(data, n);
  std::size_t start = 0;
  for (auto nl = s->pending.find('\n'); nl != std::string::npos;
       nl = s->pending.find('\n', start)) {
    std::string_view line(s->pending.data() + start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    bool more = false;
    try {
      more = (*s->sink)(line);
    } catch (...) {
      s->failure = std::current_exception();
    }
    if (!more) {
      s->ended = true;
      return 0;  // ends the transfer: libcurl reports CURLE_WRITE_ERROR
    }
  }
  s->pending.erase(0, start);
  return n;
}

bool transport_failure(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    // An endpoint whose certificate does not verify is as unusable as one
    // that does not answer; the next one may be fine.
    case CURLE_PEER_FAILED_VERIFICATION:
      return true;
    default:
      return false;
  }
}

bool mentions(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

}  // namespace

client::client(std::shared_ptr<config> cfg)
    : cfg_(std::move(cfg)),
      curl_(&curl()),
      multi_(curl_->multi_init()),
      easy_(curl_->easy_init()) {
  if (!multi_ || !easy_) throw std::bad_alloc();
}

client::~client() {
  curl_->easy_cleanup(static_cast<CURL*>(easy_));
  curl_->multi_cleanup(static_cast<CURLM*>(multi_));
}

void client::wakeup() noexcept {
  curl_->multi_wakeup(static_cast<CURLM*>(multi_));
}

stop_wakeup::stop_wakeup(const std::stop_token& stop, client& c) : stop_(stop) {
  c.set_stop([this] { return stop_.stop_requested(); });
  if (filelock::detail::platform::stop_callbacks_safe()) {
    wake_.emplace(stop_, waker{&c});
  }
}

std::string client::endpoint() const {
  std::lock_guard lk(cfg_->mutex);
  return cfg_->endpoints.at(cfg_->current);
}

client::raw_reply client::post(
    const std::string& url, const std::string& body, const std::string& token,
    std::chrono::milliseconds timeout,
    const std::function<bool(std::string_view)>* sink, const stop_check* stop,
    std::chrono::steady_clock::time_point until) {
  auto* e = static_cast<CURL*>(easy_);
  auto* m = static_cast<CURLM*>(multi_);
  raw_reply r;
  sink_state state{&r.body, sink, {}, false, nullptr};
  char errbuf[CURL_ERROR_SIZE] = {};

  curl_->easy_reset(e);
  curl_slist* headers =
      curl_->slist_append(nullptr, "Content-Type: application/json");
  std::string auth = "Authorization: " + token;
  if (!token.empty()) headers = curl_->slist_append(headers, auth.c_str());
  curl_->easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_->easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_->easy_setopt(e, CURLOPT_POSTFIELDS, body.c_str());
  curl_->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.size()));
  curl_->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_->easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_->easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_->easy_setopt(e, CURLOPT_WRITEDATA, &state);
  curl_->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(cfg_->connect_timeout.count()));
  if (timeout.count() > 0) {
    curl_->easy_setopt(e, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(timeout.count()));
  }
  // Only the endpoints we were given, never a proxy from the environment:
  // http_proxy set for a fleet's web traffic must not reroute lock traffic.
  curl_->easy_setopt(e, CURLOPT_NOPROXY, "*");
  if (!cfg_->ca_file.empty()) {
    curl_->easy_setopt(e, CURLOPT_CAINFO, cfg_->ca_file.c_str());
  }
  if (!cfg_->cert_file.empty()) {
    curl_->easy_setopt(e, CURLOPT_SSLCERT, cfg_->cert_file.c_str());
  }
  if (!cfg_->key_file.empty()) {
    curl_->easy_setopt(e, CURLOPT_SSLKEY, cfg_->key_file.c_str());
  }
  if (cfg_->insecure) {
    curl_->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }

  curl_->multi_add_handle(m, e);
  bool finished = false;
  while (!finished) {
    int running = 0;
    curl_->multi_perform(m, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_->multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        r.code = msg->data.result;
        finished = true;
      }
    }
    if (finished) break;
    if (stop && *stop && (*stop)()) {
      r.result = outcome::interrupted;
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= until) {
      r.result = outcome::timed_out;
      break;
    }
    // A stop request wakes the poll (wakeup()); the cap only bounds how
    // late a stop_check that nobody signals is noticed.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(until - now);
    auto cap = std::min<std::chrono::milliseconds::rep>(left.count(), 250);
    curl_->multi_poll(m, nullptr, 0, static_cast<int>(cap), nullptr);
  }
  curl_->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
  curl_->multi_remove_handle(m, e);
  curl_->slist_free_all(headers);
  r.ended_by_sink = state.ended;
  r.error = errbuf[0] ? errbuf : curl_->easy_strerror(r.code);
  if (state.failure) std::rethrow_exception(state.failure);
  return r;
}

std::string client::token_for(std::size_t endpoint) {
  if (cfg_->user.empty()) return {};
  {
    std::lock_guard lk(cfg_->mutex);
    if (!cfg_->token.empty()) return cfg_->token;
  }
  authenticate(endpoint);
  std::lock_guard lk(cfg_->mutex);
  return cfg_->token;
}

void client::authenticate(std::size_t endpoint) {
  json body = {{"name", cfg_->user}, {"password", cfg_->password}};
  auto reply = call_once(endpoint, "/v3/auth/authenticate", body.dump(),
                         cfg_->request_timeout, false);
  auto it = reply.find("token");
  if (it == reply.end() || !it->is_string()) {
    bad_reply("authenticate: no token in the reply");
  }
  std::lock_guard lk(cfg_->mutex);
  cfg_->token = it->get<std::string>();
}

json client::call_once(std::size_t endpoint, std::string_view path,
                       const std::string& body,
                       std::chrono::milliseconds timeout, bool retry_auth) {
  const auto& base = cfg_->endpoints.at(endpoint);
  bool is_auth = path == "/v3/auth/authenticate";
  std::string token = is_auth ? std::string() : token_for(endpoint);
  auto r = post(base + std::string(path), body, token, timeout, nullptr, &stop_,
                std::chrono::steady_clock::time_point::max());
  if (r.result == outcome::interrupted) {
    throw call_error(make_error_code(errc::unavailable), "interrupted");
  }
  if (r.code != CURLE_OK) {
    auto ec = transport_failure(r.code) ? errc::unavailable : errc::bad_reply;
    throw call_error(make_error_code(ec), base + ": " + r.error);
  }

  json reply = json::parse(r.body, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    if (r.status == 200) bad_reply(base + path.data() + ": reply is not JSON");
    // A proxy or a non-etcd server in the way.
    throw call_error(make_error_code(errc::unavailable),
                     base + ": HTTP " + std::to_string(r.status));
  }
  if (r.status == 200) {
    // Stream-shaped methods (lease keepalive) wrap their one reply.
    if (reply.size() == 1 && reply.contains("result")) return reply["result"];
    return reply;
  }

  std::string message = reply.value("message", reply.value("error", ""));
  int code = reply.value("code", 0);
  std::string detail = base + ": " + message;
  // The gateway maps gRPC codes to HTTP statuses lossily (an unknown lease
  // gives 500), so the gRPC code and the server's message decide.
  if (mentions(message, "invalid auth token") && retry_auth) {
    {
      std::lock_guard lk(cfg_->mutex);
      cfg_->token.clear();
    }
    return call_once(endpoint, path, body, timeout, false);
  }
  if (code == 16 || code == 7 || mentions(message, "authentication failed") ||
      mentions(message, "permission denied") ||
      mentions(message, "user name is empty") ||
      mentions(message, "invalid auth token")) {
    throw call_error(make_error_code(errc::access_denied), detail, code);
  }
  if (code == 14 || r.status == 503) {
    throw call_error(make_error_code(errc::unavailable), detail, code);
  }
  throw call_error(make_error_code(errc::server_error), detail, code);
}

json client::call(std::string_view path, const json& body,
                  std::chrono::milliseconds timeout) {
  if (timeout.count() <= 0) timeout = cfg_->request_timeout;
  const std::string text = body.dump();
  std::size_t start;
  {
    std::lock_guard lk(cfg_->mutex);
    start = cfg_->current;
  }
  std::string details;
  const auto n = cfg_->endpoints.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto ep = (start + i) % n;
    try {
      auto reply = call_once(ep, path, text, timeout, true);
      std::lock_guard lk(cfg_->mutex);
      cfg_->current = ep;
      return reply;
    } catch (const call_error& e) {
      if (e.code() != errc::unavailable || e.detail() == "interrupted") throw;
      if (!details.empty()) details += "; ";
      details += e.detail();
      if (cfg_->on_diagnostic && i + 1 < n) {
        cfg_->on_diagnostic("etcd endpoint " + e.detail() +
                            "; trying the next endpoint");
      }
    }
  }
  std::lock_guard lk(cfg_->mutex);
  cfg_->current = (start + 1) % n;
  throw call_error(make_error_code(errc::unavailable), details);
}

outcome client::stream(std::string_view path, const json& body,
                       const std::function<bool(const json&)>& on_message,
                       const stop_check& stop,
                       std::chrono::steady_clock::time_point until) {
  std::size_t ep;
  {
    std::lock_guard lk(cfg_->mutex);
    ep = cfg_->current;
  }
  const auto& base = cfg_->endpoints.at(ep);
  std::string token = token_for(ep);
  std::optional<call_error> failed;
  std::function<bool(std::string_view)> sink = [&](std::string_view line) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      failed.emplace(make_error_code(errc::bad_reply),
                     base + ": unreadable stream message");
      return false;
    }
    if (auto it = j.find("result"); it != j.end()) return on_message(*it);
    // {"error":{"grpc_code":N,"message":...}} in a stream, or the unary
    // error shape when the request was refused before streaming began.
    const json& err =
        j.contains("error") && j["error"].is_object() ? j["error"] : j;
    std::string message = err.value("message", "");
    int code = err.value("grpc_code", err.value("code", 0));
    auto ec =
        code == 16 || code == 7 ? errc::access_denied : errc::server_error;
    failed.emplace(make_error_code(ec), base + ": " + message, code);
    return false;
  };
  std::string text;
  if (body.is_array()) {
    // The gateway reads a stream's request body as successive JSON values.
    for (const auto& message : body) text += message.dump() + "\n";
  } else {
    text = body.dump();
  }
  auto r = post(base + std::string(path), text, token, {}, &sink, &stop, until);
  if (failed) throw *failed;
  if (r.ended_by_sink) return outcome::done;
  if (r.result != outcome::done) return r.result;
  // The server ended the stream, or the connection broke: move on to the
  // next endpoint for the caller's retry.
  {
    std::lock_guard lk(cfg_->mutex);
    cfg_->current = (ep + 1) % cfg_->endpoints.size();
  }
  std::string why = r.code == CURLE_OK ? "stream ended" : r.error;
  throw call_error(make_error_code(errc::unavailable), base + ": " + why);
}

}  // namespace filelock::etcd::detail
