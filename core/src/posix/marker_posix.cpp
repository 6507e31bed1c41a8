// POSIX file operations of the soft lock (see soft_lock.cpp for how they
// are combined, and inspect.hpp for what the soft lock promises).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/vfs.h>
#endif

#include <cerrno>

#include "platform.hpp"
#include "posix/sys.hpp"
#include "record.hpp"

namespace filelock::detail::platform {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

constexpr int kReadFlags =
    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;

std::chrono::system_clock::time_point mtime_of(const struct stat& st) {
  using namespace std::chrono;
  return system_clock::time_point(duration_cast<system_clock::duration>(
      seconds(st.st_mtim.tv_sec) + nanoseconds(st.st_mtim.tv_nsec)));
}

bool read_all(int fd, std::string& out, bool& oversized, failure& why) {
  char buf[8192];
  out.clear();
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = {"read", last_error()};
      return false;
    }
    if (n == 0) return true;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > kMaxRecordSize) {
      oversized = true;
      out.resize(kMaxRecordSize);
      return true;
    }
  }
}

bool write_all(int fd, std::string_view data, std::error_code& ec) {
  off_t at = 0;
  while (!data.empty()) {
    auto n = ::pwrite(fd, data.data(), data.size(), at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A zero-byte write makes no progress; call it a full disk.
      ec = n == 0 ? std::make_error_code(std::errc::no_space_on_device)
                  : last_error();
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    at += n;
  }
  return true;
}

}  // namespace

read_status read_marker(const std::filesystem::path& path, marker_state& out,
                        failure& why) noexcept try {
  const int fd = sys::open(path.c_str(), kReadFlags);
  if (fd < 0) {
    // ESTALE: an NFS file handle for a marker removed by another client
    // (C13); the same as finding it gone.
    if (errno == ENOENT || errno == ESTALE) return read_status::missing;
    struct stat lst {};
    if (errno == ELOOP && sys::lstat(path.c_str(), &lst) == 0 &&
        S_ISLNK(lst.st_mode)) {
      why = {"open", make_error_code(errc::symlink_refused)};
    } else {
      why = {"open", last_error()};
    }
    return read_status::failed;
  }
  file_handle h(fd);
  struct stat st {};
  if (sys::fstat(fd, &st) != 0) {
    why = {"stat", last_error()};
    return read_status::failed;
  }
  if (!S_ISREG(st.st_mode)) {
    why = {"read", S_ISDIR(st.st_mode)
                       ? std::make_error_code(std::errc::is_a_directory)
                       : make_error_code(errc::not_a_regular_file)};
    return read_status::failed;
  }
  out.id = {static_cast<std::uint64_t>(st.st_dev),
            static_cast<std::uint64_t>(st.st_ino)};
  out.mtime = mtime_of(st);
  out.oversized = false;
  if (static_cast<std::uint64_t>(st.st_size) > kMaxRecordSize) {
    out.oversized = true;
    out.content.clear();
    return read_status::ok;
  }
  if (!read_all(fd, out.content, out.oversized, why)) {
    return why.code.value() == ESTALE ? read_status::missing
                                      : read_status::failed;
  }
  return read_status::ok;
} catch (const std::bad_alloc&) {
  why = {"read", std::make_error_code(std::errc::not_enough_memory)};
  return read_status::failed;
}

bool os_lock_held(const std::filesystem::path& path, const file_id& id,
                  std::error_code& ec) noexcept {
  ec.clear();
  int fd = sys::open(path.c_str(), O_RDWR | (kReadFlags & ~O_RDONLY));
  if (fd < 0) fd = sys::open(path.c_str(), kReadFlags);
  if (fd < 0) {
    if (errno != ENOENT && errno != ESTALE) ec = last_error();
    return false;
  }
  file_handle h(fd);
  struct stat st {};
  if (sys::fstat(fd, &st) != 0) {
    ec = last_error();
    return false;
  }
  // Another file now: the caller re-reads and judges that one.
  if (static_cast<std::uint64_t>(st.st_dev) != id.device ||
      static_cast<std::uint64_t>(st.st_ino) != id.inode) {
    return false;
  }
  // Exclusive, so that a shared holder is seen too. NFS maps flock to
  // byte-range locks, which refuse an exclusive lock on a read-only
  // descriptor (EBADF): there a shared probe is the best we can do.
  int r = sys::flock(fd, LOCK_EX | LOCK_NB);
  if (r != 0 && errno == EBADF) r = sys::flock(fd, LOCK_SH | LOCK_NB);
  if (r == 0) {
    sys::flock(fd, LOCK_UN);
    return false;
  }
  if (errno == EWOULDBLOCK) return true;
  // No OS locks on this filesystem: nobody can be holding one.
  if (is_locking_unsupported(last_error())) return false;
  ec = last_error();
  return false;
}

file_handle write_new_file(const std::filesystem::path& path,
                           std::string_view content,
                           std::optional<std::filesystem::perms> file_mode,
                           bool sync, failure& why) noexcept {
  // O_EXCL|O_NOFOLLOW: never write through a name someone planted.
  const int fd = sys::open(
      path.c_str(),
      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
  if (fd < 0) {
    why = {"create", last_error()};
    return {};
  }
  file_handle h(fd);
  std::error_code ec;
  bool ok = true;
  if (file_mode &&
      sys::fchmod(fd, static_cast<mode_t>(*file_mode) & 07777) != 0) {
    why = {"set the mode of", last_error()};
    ok = false;
  }
  if (ok && !write_all(fd, content, ec)) {
    why = {"write", ec};
    ok = false;
  }
  if (ok && sync && ::fsync(fd) != 0) {
    why = {"write", last_error()};
    ok = false;
  }
  if (!ok) {
    h.close();
    ::unlink(path.c_str());
    return {};
  }
  return h;
}

bool rewrite_file(const file_handle& h, std::string_view content, bool sync,
                  failure& why) noexcept {
  const int fd = static_cast<int>(h.get());
  std::error_code ec;
  if (::ftruncate(fd, 0) != 0) {
    why = {"write", last_error()};
    return false;
  }
  if (!write_all(fd, content, ec)) {
    why = {"write", ec};
    return false;
  }
  if (sync && ::fsync(fd) != 0) {
    why = {"write", last_error()};
    return false;
  }
  return true;
}

publish_status publish(const file_handle& h, const std::filesystem::path& from,
                       const std::filesystem::path& to,
                       std::error_code& ec) noexcept {
  // link(2) fails with EEXIST if `to` exists, atomically, on every
  // filesystem including NFSv2. Over NFS the reply to a retransmitted LINK
  // may be an error although the first one succeeded, so the link count of
  // our own (uniquely named) file decides, as open(2) recommends.
  if (::link(from.c_str(), to.c_str()) == 0) return publish_status::linked;
  const int link_errno = errno;
  struct stat st {};
  if (sys::fstat(static_cast<int>(h.get()), &st) == 0 && st.st_nlink == 2) {
    return publish_status::linked;
  }
  if (link_errno == EEXIST) return publish_status::exists;
  ec.assign(link_errno, std::system_category());
  return publish_status::failed;
}

bool remove_file(const std::filesystem::path& path,
                 std::error_code& ec) noexcept {
  ec.clear();
  if (::unlink(path.c_str()) == 0) return true;
  if (errno != ENOENT && errno != ESTALE) ec = last_error();
  return false;
}

bool exists(const std::filesystem::path& path, std::error_code& ec) noexcept {
  ec.clear();
  struct stat st {};
  if (sys::lstat(path.c_str(), &st) == 0) return true;
  if (errno != ENOENT && errno != ESTALE) ec = last_error();
  return false;
}

bool touch(const file_handle& h, std::error_code& ec) noexcept {
  ec.clear();
  if (::futimens(static_cast<int>(h.get()), nullptr) == 0) return true;
  ec = last_error();
  return false;
}

bool refuses_os_locks(const std::filesystem::path& dir) noexcept {
  // A shared, non-blocking flock on the directory asks the filesystem the
  // question without creating a lock file that would then be left behind.
  const int fd = sys::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;  // the real acquire reports the reason
  file_handle h(fd);
  if (sys::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    sys::flock(fd, LOCK_UN);
    return false;
  }
  return is_locking_unsupported(last_error());
}

bool is_network_filesystem(const std::filesystem::path& dir) noexcept {
#if defined(__linux__)
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return true;  // unknown: poll
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0x6969:      // NFS
    case 0x517B:      // SMB
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x65735546:  // FUSE (sshfs, s3fs, gcsfuse, ...)
    case 0x564c:      // NCP
    case 0x5346414F:  // AFS
    case 0x6B414653:  // kAFS
    case 0x00C36400:  // Ceph
    case 0x47504653:  // GPFS
    case 0x0BD00BD0:  // Lustre
    case 0x01021997:  // 9p (v9fs)
      return true;
    default:
      return false;
  }
#else
  (void)dir;
  return true;
#endif
}

}  // namespace filelock::detail::platform
