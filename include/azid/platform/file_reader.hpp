// azid/platform/file_reader.hpp: PosixFileReader, the real FileReader with a size limit.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <string>
#include <system_error>

#include "azid/config.hpp"
#include "azid/core/error_code.hpp"

AZID_BEGIN

/// Reads a whole file, refusing one larger than `max_bytes` without reading it all
/// (models FileReader).
struct PosixFileReader {
  [[nodiscard]] std::string read(const std::string& path, std::size_t max_bytes, std::error_code& ec) const {
    ec.clear();
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
      ec = (errno == ENOENT || errno == ENOTDIR) ? make_error_code(errc::file_not_found)
                                                  : make_error_code(errc::file_read_failed);
      return {};
    }
    std::string out;
    char buf[8192];
    for (;;) {
      std::size_t n = std::fread(buf, 1, sizeof buf, f);
      if (n > 0) {
        if (out.size() + n > max_bytes) {
          ec = make_error_code(errc::file_too_large);
          out.clear();
          break;
        }
        out.append(buf, n);
      }
      if (n < sizeof buf) {
        if (std::ferror(f)) {
          ec = make_error_code(errc::file_read_failed);
          out.clear();
        }
        break;
      }
    }
    std::fclose(f);
    return out;
  }
};

AZID_END
