#include <cstdio>
#include <iostream>
#include <string>

#include "common.hpp"
#include "sections.hpp"

namespace bench {

int run_peer(impl which, const std::string& path) {
  local_lock lock(which, path);
  std::string command;
  // std::endl, not '\n': the coordinator waits for each line.
  while (std::getline(std::cin, command)) {
    if (command == "a") {
      std::cout << "w" << std::endl;
      lock.acquire();
      const auto stamp = now_ns();
      std::cout << "h " << stamp << std::endl;
    } else if (command == "r") {
      const auto stamp = now_ns();
      lock.release();
      std::cout << "r " << stamp << std::endl;
    } else {
      std::fprintf(stderr, "filelock_bench peer: unknown command '%s'\n",
                   command.c_str());
      return 2;
    }
  }
  return 0;
}

}  // namespace bench
