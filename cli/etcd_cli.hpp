// The subcommands on etcd lock names (etcd://, etcds://, etcd:): the same
// commands and exit statuses as local locks, with the etcd options below.
// main() declares the options on every subcommand and hands names in the
// etcd forms to the functions here.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <system_error>

#include "acquire.hpp"
#include "break_stale.hpp"
#include "exit_codes.hpp"
#include "filelock/etcd.hpp"
#include "json_output.hpp"
#include "release.hpp"
#include "run.hpp"

namespace filelock::cli {

struct etcd_args {
  std::string endpoints;      // --etcd-endpoints
  std::string lease_ttl;      // --lease-ttl, raw text
  std::string cacert;         // --etcd-cacert
  std::string cert;           // --etcd-cert
  std::string key;            // --etcd-key
  bool insecure = false;      // --etcd-insecure-skip-tls-verify
  std::string user;           // --etcd-user
  std::string password_file;  // --etcd-password-file
  std::string lost_grace;     // --lost-grace, raw text (run)
};

// The one set of etcd options of this invocation (only one subcommand
// runs).
etcd_args& etcd_settings();

// Declares the etcd options on a subcommand; with_run adds the run-only
// one (--lost-grace; --on-lost is run's own, for every kind).
void add_etcd_options(CLI::App& cmd, bool with_run);

bool is_etcd_lock(const std::string& name);

// The exit status for an etcd failure: 69 unreachable, 77 access denied,
// 64 a bad name, 70 a reply we do not understand, 79 the lock lost.
exit_code etcd_code_for(const std::error_code& ec);

int run_etcd(const run_args& a);
int acquire_etcd(const acquire_args& a);
int release_etcd(const release_args& a);

// One lock for status and break-stale: the JSON entry (same schema as a
// local lock, plus "backend", "endpoints", "revision" and per holder
// "fence", "lease", "ttl_left", "key"; waiters under "waiters"), the text,
// and the status code (0 held, 1 free, 2 stale, or an exit status).
// The implicit destructor only frees json's nodes; clang-tidy 14 cannot
// prove json's destructor noexcept through its allocator calls.
// NOLINTNEXTLINE(bugprone-exception-escape)
struct etcd_entry {
  json doc;
  std::string text;
  int status = 0;
};
etcd_entry status_etcd(const std::string& name);
etcd_entry break_stale_etcd(const std::string& name, const break_stale_args& a);

}  // namespace filelock::cli
