// `filelock run` on Windows: the real program, started as a process.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
// After windows.h, which it needs.
#include <sddl.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "support_win32.hpp"

using namespace std::chrono_literals;
using namespace filelock::test::win;

namespace {

std::vector<std::string> program(std::vector<std::string> args) {
  args.insert(args.begin(), filelock_exe());
  return args;
}

outcome run_under(const std::string& lock, std::vector<std::string> command,
                  std::vector<std::string> options = {}) {
  std::vector<std::string> argv = {"run"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(lock);
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  return run(program(argv));
}

std::string echoed(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) out += "[" + a + "]\n";
  return out;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("win32 run: every argument reaches the command as it was given") {
  temp_dir dir;
  const std::vector<std::string> args = {"plain",     "two words",
                                         "",          "quote\"inside",
                                         "trail\\",   "back\\\\slashes\\",
                                         "a\\\"b",    "\\\\server\\share",
                                         "tab\there", "\"",
                                         "\\",        "x y\\\\",
                                         "-x",        "--",
                                         "%PATH%",    "caf\xc3\xa9"};
  std::vector<std::string> command = {echo_args_exe()};
  command.insert(command.end(), args.begin(), args.end());
  const auto o = run_under(dir / "x.lock", command);
  CHECK(o.status == 0);
  CHECK(o.output == echoed(args));
}

TEST_CASE("win32 run: the command's exit status passes through") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  CHECK(run_under(lock, {echo_args_exe(), "--exit", "0"}).status == 0);
  CHECK(run_under(lock, {echo_args_exe(), "--exit", "3"}).status == 3);
  CHECK(run_under(lock, {echo_args_exe(), "--exit", "300"}).status == 300);
  // An NTSTATUS such as a crash's 0xC0000005 is not cut to 8 bits.
  CHECK(
      static_cast<unsigned>(
          run_under(lock, {echo_args_exe(), "--exit", "0xC0000005"}).status) ==
      0xC0000005u);
}

TEST_CASE("win32 run: -c runs the string with cmd.exe") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  auto o = run(program({"run", lock, "-c", "exit 7"}));
  CHECK(o.status == 7);
  o = run(program({"run", lock, "-c", "echo one \"two three\"& echo four"}));
  CHECK(o.status == 0);
  CHECK(o.output == "one \"two three\"\nfour\n");
}

TEST_CASE("win32 run: the command learns the lock from its environment") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  auto o = run_under(lock, {echo_args_exe(), "--env", "FILELOCK_MODE"}, {"-s"});
  CHECK(o.output == "shared\n");
  o = run_under(lock, {echo_args_exe(), "--env", "FILELOCK_PATH"});
  CHECK(std::filesystem::path(o.output.substr(0, o.output.size() - 1)) ==
        std::filesystem::path(lock));
}

TEST_CASE("win32 run: a missing command is 127 with the OS's reason") {
  temp_dir dir;
  const auto o = run_under(dir / "x.lock", {"no-such-command-xyz"});
  CHECK(o.status == 127);
  CHECK(o.output ==
        "filelock: cannot run 'no-such-command-xyz': No such file or "
        "directory\n");
}

TEST_CASE("win32 run: a held lock gives 75 at once with -n, or -E's code") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  child holder({helper_exe(), "hold", lock, "exclusive", "10"});
  REQUIRE(holder.wait_locked());
  auto o = run_under(lock, {echo_args_exe(), "ran"}, {"-n"});
  CHECK(o.status == 75);
  CHECK(o.output.find("[ran]") == std::string::npos);
  CHECK(o.output.find("cannot lock '" + lock + "'") != std::string::npos);
  CHECK(run_under(lock, {echo_args_exe()}, {"-n", "-E", "9"}).status == 9);
  CHECK(run_under(lock, {echo_args_exe()}, {"-n", "-s"}).status == 75);
}

TEST_CASE("win32 run: -w gives up on time and says it timed out") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  child holder({helper_exe(), "hold", lock, "exclusive", "10"});
  REQUIRE(holder.wait_locked());
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = run_under(lock, {echo_args_exe(), "ran"}, {"-w", "0.5"});
  const double took = seconds_since(t0);
  CHECK(o.status == 75);
  CHECK(o.output.find("timed out after") != std::string::npos);
  CHECK(took >= 0.5);
  CHECK(took < 5.0);
}

TEST_CASE("win32 run: a waiting run starts once the holder lets go") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  child holder({helper_exe(), "hold", lock, "exclusive", "0.5"});
  REQUIRE(holder.wait_locked());
  const auto o = run_under(lock, {echo_args_exe(), "ran"}, {"-w", "20"});
  CHECK(o.status == 0);
  CHECK(o.output == "[ran]\n");
}

TEST_CASE("win32 run: shared runs share, and keep an exclusive run out") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  child reader(
      program({"run", "-s", lock, "--", echo_args_exe(), "--sleep", "10"}));
  REQUIRE(reader.wait_locked());
  CHECK(run_under(lock, {echo_args_exe(), "ran"}, {"-s", "-n"}).output ==
        "[ran]\n");
  CHECK(run_under(lock, {echo_args_exe()}, {"-x", "-n"}).status == 75);
  CHECK(run({helper_exe(), "try", lock, "exclusive"}).status == 75);
}

TEST_CASE("win32 run: concurrent runs never overlap in the critical section") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  std::ofstream(dir / "counter", std::ios::binary) << 0 << '\n';
  constexpr int kRuns = 12;
  std::vector<std::unique_ptr<child>> runs;
  for (int i = 0; i < kRuns; ++i) {
    runs.push_back(std::make_unique<child>(
        program({"run", "-w", "60", lock, "--", echo_args_exe(), "--critical",
                 dir.path().string()})));
  }
  int failed = 0;
  for (auto& r : runs) failed += r->wait() != 0;
  CHECK(failed == 0);
  CHECK(slurp(dir / "counter") == std::to_string(kRuns) + "\n");
}

TEST_CASE("win32 run: the command dies with filelock (job object)") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  const auto pid_file = dir / "pid";
  child runner(program(
      {"run", lock, "--", echo_args_exe(), "--pid-file", pid_file, "60"}));
  DWORD pid = 0;
  for (int i = 0; i < 200 && pid == 0; ++i) {
    Sleep(50);
    std::ifstream(pid_file) >> pid;
  }
  REQUIRE(pid != 0);
  HANDLE command = OpenProcess(SYNCHRONIZE, FALSE, pid);
  REQUIRE(command != nullptr);
  runner.kill();
  CHECK(WaitForSingleObject(command, 10000) == WAIT_OBJECT_0);
  CloseHandle(command);
  CHECK(run({helper_exe(), "try", lock, "exclusive"}).status == 0);
}

TEST_CASE("win32 run: the command does not inherit the lock handle") {
  // The command looks through its own handles for one that refers to the
  // lock file; with --inherit it must find it, which shows that the look
  // can see an inherited handle at all.
  temp_dir dir;
  const auto lock = dir / "x.lock";
  auto o = run_under(lock, {echo_args_exe(), "--find-handle", lock});
  CHECK(o.status == 0);
  CHECK(o.output == "none\n");
  o = run_under(lock, {echo_args_exe(), "--find-handle", lock}, {"--inherit"});
  CHECK(o.status == 0);
  CHECK(o.output == "inherited\n");
}

TEST_CASE("win32 run: C29, the data file itself as the lock") {
  // Byte 0 is locked (where Python's filelock locks) and Windows locks are
  // mandatory, so under an exclusive lock other handles cannot read or
  // write byte 0 on Windows (Wine does not enforce this). The lock handle
  // shares everything and asks only for read access, so the command can
  // still open the file, read it under a shared lock, append to it and
  // rename it; filelock itself never truncates or rewrites it.
  temp_dir dir;
  const auto data = dir / "data.txt";
  std::ofstream(data, std::ios::binary) << "old\n";
  auto o = run_under(data, {echo_args_exe(), "ran"});
  CHECK(o.status == 0);
  CHECK(slurp(data) == "old\n");

  o = run(program({"run", "-s", data, "-c", "type \"" + data + "\""}));
  CHECK(o.status == 0);
  CHECK(o.output == "old\n");

  o = run(program({"run", data, "-c", "echo more>>\"" + data + "\""}));
  CHECK(o.status == 0);
  CHECK(slurp(data) == "old\nmore\r\n");

  const auto moved = dir / "data2.txt";
  o = run(program(
      {"run", data, "-c",
       "ren \"" + data + "\" data2.txt && ren \"" + moved + "\" data.txt"}));
  CHECK(o.status == 0);
  CHECK(std::filesystem::exists(data));
}

TEST_CASE("win32 run: a non-ASCII lock path is used as given") {
  temp_dir dir;
  // Made from UTF-16: path("...") from a narrow string would not read it
  // as UTF-8; path::string() gives UTF-8.
  const auto wide = dir.path() / L"verrou-caf\u00e9.lock";
  const auto lock = wide.string();
  const auto o = run_under(lock, {echo_args_exe(), "--env", "FILELOCK_PATH"});
  CHECK(o.status == 0);
  CHECK(o.output == lock + "\n");
  CHECK(std::filesystem::exists(wide));
}

TEST_CASE("win32 run: a directory as the lock fails at once, not as busy") {
  // C30: a permanent refusal must not be waited on as if it were a holder.
  temp_dir dir;
  std::filesystem::create_directory(dir.path() / "d");
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = run_under(dir / "d", {echo_args_exe()}, {"-w", "10"});
  CHECK(seconds_since(t0) < 5.0);
  CHECK(o.status == 66);
  CHECK(o.output.find("Is a directory") != std::string::npos);
}

TEST_CASE("win32 run: a missing directory is 66 and says so") {
  temp_dir dir;
  const auto lock = (dir.path() / "nowhere" / "x.lock").string();
  const auto o = run_under(lock, {echo_args_exe()}, {"-w", "10"});
  CHECK(o.status == 66);
  CHECK(o.output.find("No such file or directory (directory '") !=
        std::string::npos);
}

TEST_CASE("win32 run: an ACL that denies access is reported at once") {
  // C30. Wine does not enforce ACLs on files; there the denial cannot be
  // produced and this test says so.
  temp_dir dir;
  const auto lock = dir / "denied.lock";
  std::ofstream(lock) << "";
  const std::wstring w = std::filesystem::path(lock).wstring();
  // D: protected DACL with one entry: deny everyone all access.
  const auto sddl = L"D:P(D;;FA;;;WD)";
  PSECURITY_DESCRIPTOR sd = nullptr;
  REQUIRE(ConvertStringSecurityDescriptorToSecurityDescriptorW(
      sddl, SDDL_REVISION_1, &sd, nullptr));
  const bool set =
      SetFileSecurityW(w.c_str(), DACL_SECURITY_INFORMATION, sd) != 0;
  LocalFree(sd);
  HANDLE probe = CreateFileW(w.c_str(), GENERIC_READ, FILE_SHARE_READ, nullptr,
                             OPEN_EXISTING, 0, nullptr);
  if (!set || probe != INVALID_HANDLE_VALUE) {
    if (probe != INVALID_HANDLE_VALUE) CloseHandle(probe);
    MESSAGE("this system does not enforce file ACLs (Wine); not tested");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto o = run_under(lock, {echo_args_exe()}, {"-w", "10"});
  CHECK(seconds_since(t0) < 5.0);
  CHECK(o.status == 77);
  CHECK(o.output.find("Permission denied") != std::string::npos);
}

TEST_CASE("win32 run: -F runs the command and ends with its status") {
  temp_dir dir;
  const auto lock = dir / "x.lock";
  auto o = run_under(lock, {echo_args_exe(), "--exit", "5"}, {"-F"});
  CHECK(o.status == 5);
  CHECK(run({helper_exe(), "try", lock, "exclusive"}).status == 0);
}

TEST_CASE("win32 acquire: --fd says it is Unix-only") {
  auto o = run(program({"acquire", "--fd", "9"}));
  CHECK(o.status == 64);
  CHECK(o.output.find("--fd is Unix-only") != std::string::npos);
  o = run(program({"release", "--fd", "9"}));
  CHECK(o.status == 64);
  CHECK(o.output.find("--fd is Unix-only") != std::string::npos);
}

TEST_CASE("win32 soft: a lock held by a live owner keeps others out") {
  temp_dir dir;
  const auto lock = dir / "soft.lock";
  child owner({echo_args_exe(), "--sleep", "60"});
  REQUIRE(owner.wait_locked());
  const auto pid = std::to_string(owner.pid());
  auto o = run(program({"acquire", "--owner-pid", pid, lock}));
  REQUIRE(o.status == 0);
  o = run_under(lock, {echo_args_exe(), "ran"}, {"--kind", "soft", "-n"});
  CHECK(o.status == 75);
  o = run(program({"status", lock}));
  CHECK(o.output.find("pid " + pid) != std::string::npos);
  o = run(program({"release", "--owner-pid", pid, lock}));
  CHECK(o.status == 0);
  o = run_under(lock, {echo_args_exe(), "ran"}, {"--kind", "soft", "-n"});
  CHECK(o.status == 0);
  CHECK(o.output == "[ran]\n");
}

TEST_CASE("win32 soft: the lock of a dead owner is stale and taken over") {
  temp_dir dir;
  const auto lock = dir / "soft.lock";
  std::string pid;
  {
    child owner({echo_args_exe(), "--sleep", "60"});
    REQUIRE(owner.wait_locked());
    pid = std::to_string(owner.pid());
    REQUIRE(run(program({"acquire", "--owner-pid", pid, lock})).status == 0);
    owner.kill();
  }
  auto o = run(program({"status", lock}));
  CHECK(o.output.find("stale") != std::string::npos);
  o = run_under(lock, {echo_args_exe(), "ran"}, {"--kind", "soft", "-w", "5"});
  CHECK(o.status == 0);
  CHECK(o.output.find("[ran]") != std::string::npos);
}

TEST_CASE(
    "win32 soft: acquire, status, break-stale and release take a "
    "non-ASCII path as given") {
  temp_dir dir;
  // Made from UTF-16, as in the run test above: the program gets it as
  // UTF-8 through its UTF-16 command line.
  const auto wide = dir.path() / L"verrou-caf\u00e9.lock";
  const auto lock = wide.string();
  child owner({echo_args_exe(), "--sleep", "60"});
  REQUIRE(owner.wait_locked());
  const auto pid = std::to_string(owner.pid());
  auto o = run(program({"acquire", "--owner-pid", pid, lock}));
  REQUIRE(o.status == 0);
  CHECK(std::filesystem::exists(wide));
  o = run(program({"status", lock}));
  CHECK(o.status == 0);  // held
  CHECK(o.output.find("pid " + pid) != std::string::npos);
  o = run(program({"break-stale", lock}));
  CHECK(std::filesystem::exists(wide));  // a live owner's lock stays
  o = run(program({"release", "--owner-pid", pid, lock}));
  CHECK(o.status == 0);
  CHECK_FALSE(std::filesystem::exists(wide));
}

TEST_CASE("win32 status: an OS lock another process holds is held") {
  temp_dir dir;
  const auto lock = dir / "os.lock";
  {
    child holder({helper_exe(), "hold", lock, "exclusive", "30"});
    REQUIRE(holder.wait_locked());
    auto o = run(program({"status", lock}));
    CHECK(o.status == 0);
    CHECK(o.output.find("state:   held") != std::string::npos);
    o = run(program({"status", "--json", lock}));
    CHECK(o.output.find("\"state\": \"held\"") != std::string::npos);
    holder.kill();
  }
  auto o = run(program({"status", lock}));
  CHECK(o.status == 1);
  CHECK(o.output.find("state:   free") != std::string::npos);
}
