// azid/platform/file_reader.hpp: PosixFileReader, the real FileReader with a size limit.
#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"
#include "azid/detail/redact.hpp"

AZID_BEGIN

/// Reads a whole file, refusing one larger than `max_bytes` without reading it all
/// (models FileReader). Never hangs: the file is opened without blocking, so a FIFO nobody
/// writes to reads as empty, and a FIFO, pipe or device that stops producing (a process
/// substitution that stalls) is given up after `stall_limit`.
struct PosixFileReader {
  std::chrono::milliseconds stall_limit{5'000};

  [[nodiscard]] std::string read(const std::string& path, std::size_t max_bytes,
                                 std::error_code& ec) const {
    return read_path(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC, false, max_bytes, ec);
  }

  /// Like read(), for a secret in a folder the credential has already judged (Azure Arc's key
  /// file): refuses a symbolic link or anything but a regular file at the moment of opening
  /// (O_NOFOLLOW, then fstat of the descriptor it reads from), so the path cannot be swapped
  /// between that check and this read. Never blocks on a FIFO.
  [[nodiscard]] std::string read_regular(const std::string& path, std::size_t max_bytes,
                                         std::error_code& ec) const {
    return read_path(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, true, max_bytes, ec);
  }

 private:
  std::string read_path(const std::string& path, int flags, bool regular_only,
                        std::size_t max_bytes, std::error_code& ec) const {
    ec.clear();
    const int fd = ::open(path.c_str(), flags);
    if (fd < 0) {
      const int e = errno;
      ec = make_error_code(e == ENOENT || e == ENOTDIR ? errc::file_not_found
                           : e == EACCES || e == EPERM ? errc::file_access_denied
                           : e == ELOOP                ? errc::file_not_regular  // O_NOFOLLOW
                                                       : errc::file_read_failed);
      return {};
    }
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) != 0)
      ec = make_error_code(errc::file_read_failed);
    else if (S_ISDIR(st.st_mode) || (regular_only && !S_ISREG(st.st_mode)))
      ec = make_error_code(errc::file_not_regular);
    else if (S_ISREG(st.st_mode) && static_cast<unsigned long long>(st.st_size) > max_bytes)
      ec = make_error_code(errc::file_too_large);
    else
      out = read_all(fd, S_ISREG(st.st_mode) ? static_cast<std::size_t>(st.st_size) : 0, max_bytes,
                     ec);
    if (ec) out.clear();
    ::close(fd);
    return out;
  }

  // Reads `fd` (opened O_NONBLOCK) to its end: more than `max_bytes` is file_too_large, and no
  // progress for `stall_limit` (a FIFO or pipe whose writer went quiet) is file_read_failed.
  // The file may hold a secret (a key, a token): the buffer is sized from `expected`, grows (when
  // the size was not known) by copies that wipe what they leave, and the stack buffer is cleared
  // before returning.
  std::string read_all(int fd, std::size_t expected, std::size_t max_bytes,
                       std::error_code& ec) const {
    std::string out;
    if (expected > 0) out.reserve(expected < max_bytes ? expected + 1 : max_bytes);
    const auto deadline = std::chrono::steady_clock::now() + stall_limit;
    char buf[8192];
    struct ClearOnExit {
      char* p;
      std::size_t n;
      std::string& partial;
      bool keep = false;  // set once `partial` is handed back whole
      ~ClearOnExit() {
        detail::wipe_bytes(p, n);
        if (!keep) detail::wipe_bytes(partial.data(), partial.size());
      }
    } clear{buf, sizeof buf, out};
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
          ec = make_error_code(errc::file_read_failed);  // stalled
          return {};
        }
        continue;
      }
      if (n < 0) {
        ec = make_error_code(errc::file_read_failed);
        return {};
      }
      if (n == 0) {
        clear.keep = true;
        return out;
      }
      if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
        ec = make_error_code(errc::file_too_large);
        return {};
      }
      if (out.capacity() < out.size() + static_cast<std::size_t>(n)) {
        // Growing (a pipe, or a file longer than it was): copy to a larger buffer and wipe the
        // old one before it is freed, rather than let the string reallocate and free it as is.
        std::string larger;
        larger.reserve(std::min(
            max_bytes, std::max(out.capacity() * 2, out.size() + static_cast<std::size_t>(n))));
        larger.append(out);
        detail::wipe_bytes(out.data(), out.size());
        out.swap(larger);
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
};

AZID_END
