// System-call failures injected through the backend's syscall table
// (core/src/posix/sys.hpp): each is reported as the right error, with
// nothing left behind, and EINTR is retried rather than reported.
#include <doctest/doctest.h>
#include <sys/file.h>

#include <cerrno>
#include <filesystem>

#include "filelock/filelock.hpp"
#include "posix/sys.hpp"
#include "support.hpp"

using filelock::acquire_status;
using filelock::file_lock;
using filelock::lock_mode;
using filelock::test::temp_dir;
namespace sys = filelock::detail::sys;

namespace {

// Replaces entries of the live table for one test and restores them.
struct inject {
  inject() = default;
  ~inject() { sys::calls() = sys::real_calls(); }
  inject(const inject&) = delete;
  inject& operator=(const inject&) = delete;
};

int fail_errno = 0;
int fail_count = 0;  // how many calls fail before the real call runs

int failing_open(const char* p, int flags, mode_t mode) {
  if (fail_count-- > 0) {
    errno = fail_errno;
    return -1;
  }
  return sys::real_calls().open(p, flags, mode);
}

int failing_create(const char* p, int flags, mode_t mode) {
  if (flags & O_CREAT) {
    errno = fail_errno;
    return -1;
  }
  return sys::real_calls().open(p, flags, mode);
}

int failing_flock(int fd, int op) {
  if (fail_count-- > 0) {
    errno = fail_errno;
    return -1;
  }
  return sys::real_calls().flock(fd, op);
}

filelock::acquire_result try_once(const std::filesystem::path& p) {
  file_lock lock(p);
  return lock.acquire_until(filelock::steady_clock::now(),
                            lock_mode::exclusive);
}

}  // namespace

TEST_CASE("EINTR from open and flock is retried, not reported") {
  temp_dir dir;
  inject guard;
  fail_errno = EINTR;
  fail_count = 3;
  sys::calls().open = failing_open;
  CHECK(try_once(dir / "a.lock").acquired());
  fail_count = 3;
  sys::calls().flock = failing_flock;
  CHECK(try_once(dir / "b.lock").acquired());
}

TEST_CASE("C13: ESTALE from open means the file changed: opened again") {
  temp_dir dir;
  inject guard;
  fail_errno = ESTALE;
  fail_count = 2;
  sys::calls().open = failing_open;
  CHECK(try_once(dir / "a.lock").acquired());
  CHECK(fail_count < 0);
  // Every time: given up after a bound, with the reason.
  fail_count = 1000;
  const auto r = try_once(dir / "b.lock");
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == std::error_code(ESTALE, std::system_category()));
}

TEST_CASE("a failing open is reported with its reason and creates nothing") {
  for (int e : {EIO, EACCES, ENAMETOOLONG}) {
    temp_dir dir;
    inject guard;
    fail_errno = e;
    fail_count = 100;
    sys::calls().open = failing_open;
    auto r = try_once(dir / "x.lock");
    CHECK(r.status == acquire_status::failed);
    CHECK(r.error == std::error_code(e, std::system_category()));
    CHECK_FALSE(std::filesystem::exists(dir / "x.lock"));
  }
}

TEST_CASE("a file that cannot be created is a create error, not busy") {
  for (int e : {ENOSPC, EROFS, EACCES, EDQUOT}) {
    temp_dir dir;
    inject guard;
    fail_errno = e;
    sys::calls().open = failing_create;
    auto r = try_once(dir / "x.lock");
    CHECK(r.status == acquire_status::failed);
    CHECK(r.operation == "create");
    CHECK(r.error == std::error_code(e, std::system_category()));
    CHECK_FALSE(std::filesystem::exists(dir / "x.lock"));
  }
}

TEST_CASE("a filesystem without OS locks says so, and is never busy") {
  for (int e : {ENOLCK, EOPNOTSUPP, ENOSYS}) {
    temp_dir dir;
    inject guard;
    fail_errno = e;
    fail_count = 100;
    sys::calls().flock = failing_flock;
    auto r = try_once(dir / "x.lock");
    CHECK(r.status == acquire_status::failed);
    CHECK(r.operation == "lock");
    CHECK(filelock::is_locking_unsupported(r.error));
  }
}

TEST_CASE("EIO while locking is reported as an error") {
  temp_dir dir;
  inject guard;
  fail_errno = EIO;
  fail_count = 100;
  sys::calls().flock = failing_flock;
  auto r = try_once(dir / "x.lock");
  CHECK(r.status == acquire_status::failed);
  CHECK(r.error == std::error_code(EIO, std::system_category()));
}

TEST_CASE("write access refused falls back to a read-only descriptor") {
  temp_dir dir;
  { file_lock(dir / "x.lock").acquire(); }  // create it
  inject guard;
  static int denied_rw;
  denied_rw = 0;
  sys::calls().open = [](const char* p, int flags, mode_t mode) {
    if ((flags & O_ACCMODE) == O_RDWR) {
      ++denied_rw;
      errno = EACCES;
      return -1;
    }
    return sys::real_calls().open(p, flags, mode);
  };
  CHECK(try_once(dir / "x.lock").acquired());
  CHECK(denied_rw == 1);
}

TEST_CASE(
    "an exclusive lock refused on a read-only descriptor (NFS) says that "
    "write access is needed") {
  temp_dir dir;
  { file_lock(dir / "x.lock").acquire(); }  // create it
  inject guard;
  sys::calls().open = [](const char* p, int flags, mode_t mode) {
    if ((flags & O_ACCMODE) == O_RDWR) {
      errno = EACCES;
      return -1;
    }
    return sys::real_calls().open(p, flags, mode);
  };
  // NFS turns flock() into a byte-range lock: LOCK_EX needs a writable
  // descriptor and fails with EBADF on a read-only one.
  sys::calls().flock = [](int fd, int op) {
    if (op & LOCK_EX) {
      errno = EBADF;
      return -1;
    }
    return sys::real_calls().flock(fd, op);
  };
  auto r = try_once(dir / "x.lock");
  CHECK(r.status == acquire_status::failed);
  CHECK(r.operation == "lock");
  CHECK(r.error == filelock::errc::exclusive_needs_write_access);

  file_lock shared(dir / "x.lock");
  CHECK(shared.acquire_until(filelock::steady_clock::now(), lock_mode::shared)
            .acquired());
}
