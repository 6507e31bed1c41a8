// The etcd tests need an etcd binary; without one they are skipped (exit
// 77, CTest's SKIP_RETURN_CODE for them) so that the rest of the suite
// still passes on machines without etcd.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "support.hpp"

int main(int argc, char** argv) {
  bool listing = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strstr(argv[i], "list-test")) listing = true;
  }
  if (!listing && filelock::etcd_test::etcd_binary().empty()) {
    std::puts("SKIPPED: no etcd binary (install etcd-server or set ETCD_BIN)");
    return 77;
  }
  return doctest::Context(argc, argv).run();
}
