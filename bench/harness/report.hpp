// The Markdown report: runs every section and prints it with the machine
// description, the load average and the targets of issue #6.
#pragma once

#include <string>

#include "common.hpp"

namespace bench {

struct report_options {
  std::string micro;    // the filelock_micro program, may be empty
  std::string commit;   // shown in the header
  std::string fs_type;  // of setup::dir, shown in the header
  bool python_available = false;
};

// Prints the report on stdout and progress on stderr.
void print_report(const setup& s, const report_options& o);

}  // namespace bench
