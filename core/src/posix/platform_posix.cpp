// POSIX implementation of platform.hpp: flock(2) on a lock file.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/sysmacros.h>
#endif

#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "platform.hpp"
#include "posix/sys.hpp"
#include "posix/wait.hpp"

namespace filelock::detail::platform {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

// Flags shared by every open of a lock file. O_NOFOLLOW: a symlink planted
// at the lock path must never redirect us (CVE-2025-68146 in Python's
// filelock). O_NONBLOCK: opening a FIFO planted there must not hang; it does
// not affect flock(). Never O_TRUNC: the file may be someone's data.
constexpr int kCommonFlags = O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

int common_flags(const open_rules& rules) {
  return rules.follow_symlink ? kCommonFlags & ~O_NOFOLLOW : kCommonFlags;
}

bool last_is_symlink(const std::filesystem::path& path) {
  struct stat st {};
  return sys::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

// Refuses what is not a regular file (or, where the rules allow one, a
// directory), keeping a reason a person can read.
// Fills id from the same status when asked.
bool check_regular(int fd, const open_rules& rules, failure& why, file_id* id,
                   std::uint64_t* size) {
  struct stat st {};
  if (sys::fstat(fd, &st) != 0) {
    why = {"stat", last_error()};
    return false;
  }
  if (id) {
    *id = {static_cast<std::uint64_t>(st.st_dev),
           static_cast<std::uint64_t>(st.st_ino)};
  }
  if (size) *size = static_cast<std::uint64_t>(std::max<off_t>(st.st_size, 0));
  if (S_ISDIR(st.st_mode) && rules.allow_directory) return true;
  if (S_ISDIR(st.st_mode)) {
    why = {"lock", std::make_error_code(std::errc::is_a_directory)};
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = {"lock", make_error_code(errc::not_a_regular_file)};
    return false;
  }
  return true;
}

// The error of a failed flock(), from errno.
std::error_code flock_error(int fd, int op) {
  auto ec = last_error();
  // On NFS, Linux makes flock() a byte-range lock, and an exclusive one
  // fails with EBADF on a descriptor open for reading only, which is what
  // open_lock_file falls back to when write access is refused
  // (gofrs/flock#95). Say so rather than report a bad descriptor.
  if (ec.value() == EBADF && op == LOCK_EX) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY) {
      return make_error_code(errc::exclusive_needs_write_access);
    }
  }
  return ec;
}

}  // namespace

file_handle& file_handle::operator=(file_handle&& o) noexcept {
  if (this != &o) {
    close();
    h_ = o.h_;
    o.h_ = invalid;
  }
  return *this;
}

void file_handle::close() noexcept {
  if (h_ != invalid) {
    sys::close(static_cast<int>(h_));
    h_ = invalid;
  }
}

file_handle open_lock_file(const std::filesystem::path& path, lock_mode,
                           std::optional<std::filesystem::perms> file_mode,
                           failure& why, const open_rules& rules, file_id* id,
                           std::uint64_t* size) noexcept {
  if (size) *size = 0;  // a file we create is empty
  const int flags = common_flags(rules);
  // Bounded: each round either opens, or sees the file vanish between our
  // two opens (ENOENT, then EEXIST); a file that appears and disappears
  // that often is being attacked, and we give up with the last reason.
  int changed = ENOENT;  // the reason to give if it keeps changing
  for (int round = 0; round < 64; ++round) {
    // First without O_CREAT: with fs.protected_regular, O_CREAT on another
    // user's existing file in a sticky directory fails even when the mode
    // would let us open it (thin-edge.io#1726).
    int fd = sys::open(path.c_str(), O_RDWR | flags);
    // A directory opens read-only only; flock() needs no more (as
    // util-linux flock(1) does it).
    const bool dir = fd < 0 && errno == EISDIR && rules.allow_directory;
    if (fd < 0 &&
        (dir || errno == EACCES || errno == EROFS || errno == EPERM)) {
      // flock() needs no write access on local filesystems, so a file we
      // may only read is still a file we may lock (as util-linux does).
      const int write_errno = errno;
      fd = sys::open(path.c_str(), O_RDONLY | flags);
      if (fd < 0) errno = write_errno;
    }
    if (fd >= 0) {
      if (!check_regular(fd, rules, why, id, size)) {
        sys::close(fd);
        return {};
      }
      return file_handle(fd);
    }
    if (errno == ELOOP && !rules.follow_symlink && last_is_symlink(path)) {
      why = {"open", make_error_code(errc::symlink_refused)};
      return {};
    }
    // ESTALE: on NFS the file was removed or replaced by another client
    // between our lookup and the open (C13): it changed under us, look
    // again rather than fail.
    if (errno == ESTALE) {
      changed = ESTALE;
      continue;
    }
    if (errno != ENOENT) {
      why = {"open", last_error()};
      return {};
    }

    // O_EXCL never follows a symlink, even one we were told to follow: a
    // dangling link is not created through (util-linux flock(1) would
    // create its target), since that is how a link planted in /tmp makes
    // a privileged script create or own a file elsewhere. Refused, as with
    // any other open failure, rather than looping on EEXIST.
    fd = sys::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | flags, 0666);
    if (fd < 0) {
      if (errno == EEXIST && rules.follow_symlink && last_is_symlink(path)) {
        why = {"open",
               std::make_error_code(std::errc::no_such_file_or_directory)};
        return {};
      }
      // Someone created it: open theirs (or, ESTALE, it changed again).
      if (errno == EEXIST || errno == ESTALE) {
        changed = errno == ESTALE ? ESTALE : ENOENT;
        continue;
      }
      why = {"create", last_error()};
      return {};
    }
    if (file_mode) {
      // fchmod, never umask(): the umask is per process and changing it
      // would leak into other threads' files (tox-dev/filelock#204).
      const auto bits = static_cast<mode_t>(*file_mode) & 07777;
      if (sys::fchmod(fd, bits) != 0) {
        why = {"set the mode of", last_error()};
        sys::close(fd);
        return {};
      }
    }
    file_handle created(fd);
    std::error_code ec;
    if (id && !identify(created, *id, ec)) {
      why = {"stat", ec};
      return {};
    }
    return created;
  }
  why = {"open", std::error_code(changed, std::system_category())};
  return {};
}

file_handle open_existing_lock_file(const std::filesystem::path& path,
                                    file_id& id, failure& why) noexcept {
  why = {};
  int fd = sys::open(path.c_str(), O_RDWR | kCommonFlags);
  if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
    fd = sys::open(path.c_str(), O_RDONLY | kCommonFlags);
  }
  if (fd < 0) {
    // ESTALE: another NFS client removed it, which is what ENOENT says.
    if (errno != ENOENT && errno != ESTALE) why = {"open", last_error()};
    return {};
  }
  if (!check_regular(fd, {}, why, &id, nullptr)) {
    sys::close(fd);
    return {};
  }
  return file_handle(fd);
}

bool identify(const file_handle& h, file_id& id, std::error_code& ec) noexcept {
  struct stat st {};
  if (sys::fstat(static_cast<int>(h.get()), &st) != 0) {
    ec = last_error();
    return false;
  }
  id = {static_cast<std::uint64_t>(st.st_dev),
        static_cast<std::uint64_t>(st.st_ino)};
  return true;
}

wait_status lock_file(const file_handle& h, lock_mode mode,
                      const deadline& until, const std::stop_token& stop,
                      std::error_code& ec) noexcept {
  const int fd = static_cast<int>(h.get());
  const int op = mode == lock_mode::shared ? LOCK_SH : LOCK_EX;
  // A wait nothing can end early needs no first attempt: flock() returns at
  // once when the lock is free, and one system call per acquire is saved.
  if (!until && !stop.stop_possible()) {
    if (sys::flock(fd, op) == 0) return wait_status::acquired;
    ec = flock_error(fd, op);
    return wait_status::failed;
  }
  // Otherwise the attempt keeps the uncontended case off the watchdog
  // thread that blocking_flock starts.
  if (sys::flock(fd, op | LOCK_NB) == 0) return wait_status::acquired;
  if (errno != EWOULDBLOCK) {
    ec = flock_error(fd, op);
    return wait_status::failed;
  }
  if (until && steady_clock::now() >= *until) return wait_status::busy;
  if (stop.stop_requested()) return wait_status::cancelled;
  auto s = posix::blocking_flock(fd, op, until, stop, ec);
  if (s == wait_status::failed && ec.category() == std::system_category()) {
    errno = ec.value();
    ec = flock_error(fd, op);
  }
  return s;
}

void unlock_file(const file_handle& h, std::error_code& ec) noexcept {
  if (sys::flock(static_cast<int>(h.get()), LOCK_UN) != 0) ec = last_error();
}

bool path_names(const std::filesystem::path& path, const file_id& id,
                std::error_code& ec, bool follow_symlink) noexcept {
  struct stat st {};
  const int r = follow_symlink ? sys::stat(path.c_str(), &st)
                               : sys::lstat(path.c_str(), &st);
  if (r != 0) {
    if (errno == ENOENT) return false;  // removed while we waited
    ec = last_error();
    return false;
  }
  return static_cast<std::uint64_t>(st.st_dev) == id.device &&
         static_cast<std::uint64_t>(st.st_ino) == id.inode && st.st_nlink > 0;
}

#if defined(__linux__)
namespace {

// One flock(2) lock as /proc/locks and /proc/PID/fdinfo/FD both print it,
// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF", less the leading
// position number, which differs between the two. Blocked requests carry
// "->" after the number and are skipped.
struct kernel_lock {
  std::string access;  // READ or WRITE
  std::int64_t pid = 0;
  std::string where;  // hex major:minor:inode
  bool operator==(const kernel_lock&) const = default;
};

bool parse_kernel_lock(const std::string& line, kernel_lock& out) {
  std::istringstream fields(line);
  std::string num, type, advisory;
  fields >> num >> type;
  if (type != "FLOCK") return false;
  fields >> advisory >> out.access >> out.pid >> out.where;
  return !fields.fail();
}

// True when some descriptor of process pid is on the open file that
// carries lock: fdinfo lists the locks of each descriptor's open file.
bool has_lock_descriptor(const std::filesystem::path& fdinfo_dir,
                         const kernel_lock& lock) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::directory_iterator it(fdinfo_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::ifstream in(it->path());
    std::string line;
    while (std::getline(in, line)) {
      kernel_lock l;
      if (line.rfind("lock:", 0) == 0 && parse_kernel_lock(line.substr(5), l) &&
          l == lock) {
        return true;
      }
    }
  }
  return false;
}

// The processes that keep lock alive. /proc/locks names the process that
// took it, which may have exited (or whose pid may now be someone else's)
// while a descriptor it passed on, say to a daemon started under flock(1),
// still holds the lock; then every process is searched for a descriptor on
// the locked open file. Other users' fdinfo is unreadable without
// privilege: the taker's pid is kept when nothing is found.
std::vector<std::int64_t> lock_keepers(const kernel_lock& lock) {
  namespace fs = std::filesystem;
  const auto taker = fs::path("/proc") / std::to_string(lock.pid) / "fdinfo";
  if (lock.pid > 0 && has_lock_descriptor(taker, lock)) return {lock.pid};
  std::vector<std::int64_t> pids;
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (has_lock_descriptor(it->path() / "fdinfo", lock)) {
      pids.push_back(std::stoll(name));
    }
  }
  if (pids.empty()) pids.push_back(lock.pid);
  return pids;
}

}  // namespace
#endif

bool stop_callbacks_safe() noexcept {
  return true;
}

bool os_lock_holders_complete() noexcept {
#if defined(__linux__)
  return true;
#else
  return false;
#endif
}

std::vector<holder_info> os_lock_holders(const file_id& id) {
  std::vector<holder_info> out;
#if defined(__linux__)
  // The device is printed as hex major:minor.
  std::ifstream in("/proc/locks");
  const auto dev = static_cast<dev_t>(id.device);
  std::ostringstream want;
  want << std::hex;
  want.fill('0');
  want.width(2);
  want << major(dev) << ':';
  want.width(2);
  want << minor(dev) << ':' << std::dec << id.inode;
  std::string line;
  while (std::getline(in, line)) {
    kernel_lock lock;
    if (!parse_kernel_lock(line, lock) || lock.where != want.str()) continue;
    for (const auto pid : lock_keepers(lock)) {
      holder_info h;
      h.pid = pid;
      h.host = host_name();
      h.command = process_command(pid);
      h.mode = lock.access == "READ" ? lock_mode::shared : lock_mode::exclusive;
      out.push_back(std::move(h));
    }
  }
#else
  (void)id;
#endif
  return out;
}

namespace {

// getpid() is a system call on every acquire and release (the fork check).
// The pid changes only across fork(), where the child refreshes it.
std::atomic<std::int64_t> cached_pid{0};

void refresh_pid_in_child() noexcept {
  cached_pid.store(::getpid());
}

}  // namespace

std::vector<std::string> curl_library_names() {
  // libcurl's ABI has been soname 4 since 2006 (7.16): ELF systems and
  // macOS name it by that number. The unversioned name comes from the
  // development package only, so it is the last resort.
  return {"libcurl.so.4", "libcurl.4.dylib", "libcurl.so", "libcurl.dylib"};
}

void* open_library(const std::string& name, std::string& error) noexcept {
  // RTLD_LOCAL: libcurl's own dependencies (OpenSSL, ...) must not start
  // resolving symbols of libraries loaded after them.
  void* lib = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    error = why ? why : name + ": cannot be loaded";
  }
  return lib;
}

void* library_symbol(void* library, const char* name) noexcept {
  return ::dlsym(library, name);
}

std::int64_t current_pid() noexcept {
  auto pid = cached_pid.load(std::memory_order_relaxed);
  if (pid == 0) {
    static const int registered =
        pthread_atfork(nullptr, nullptr, refresh_pid_in_child);
    (void)registered;
    pid = ::getpid();
    cached_pid.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

std::string process_command(std::int64_t pid) {
#if defined(__linux__)
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline",
                   std::ios::binary);
  // read(2) fails with ESRCH when the process exits while we read it
  // (status sees short-lived lockers in /proc/locks). The stream's own
  // functions turn that into a failed read; istreambuf_iterator would let
  // libstdc++'s exception escape.
  std::string command, arg;
  bool first = true;
  while (std::getline(in, arg, '\0')) {
    if (!first) command += ' ';
    command += arg;
    first = false;
  }
  return command;
#else
  (void)pid;
  return {};
#endif
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}

}  // namespace filelock::detail::platform
