// Fuzz target: Azure Arc's 401 challenge. The server names a key file in `WWW-Authenticate:
// Basic realm=<path>`; azid must accept only a `.key` regular file directly inside the agent's
// key folder, whatever the path says (.., //, symbolic links, directories, huge files).
//
// Input: the header value. The key folder is a temporary directory made once, holding
// good.key, big.key (over 4096 bytes), link.key (a symbolic link), dir.key (a directory) and
// plain.txt. Every `{dir}` in the input stands for that folder's path (it differs per run), so
// the seeds can name files inside it.
#include <filesystem>
#include <fstream>
#include <string>

#include <stdlib.h>

#include "azid/detail/managed_identity.hpp"
#include "fuzz_common.hpp"

namespace {

namespace fs = std::filesystem;
std::string key_dir;

void remove_key_dir() {
  std::error_code ec;
  if (!key_dir.empty()) fs::remove_all(key_dir, ec);
}

void write_file(const fs::path& p, std::size_t n) {
  std::ofstream(p, std::ios::binary) << std::string(n, 'k');
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string tmpl = (fs::temp_directory_path() / "azid-fuzz-arc-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) std::abort();
  key_dir = tmpl;
  std::atexit(remove_key_dir);
  const fs::path d(key_dir);
  write_file(d / "good.key", 32);
  write_file(d / "big.key", 5000);
  write_file(d / "plain.txt", 32);
  fs::create_directory(d / "dir.key");
  fs::create_symlink(d / "good.key", d / "link.key");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  azid::HttpResponse res;
  res.status = 401;
  std::string header(fuzz::as_view(data, size));
  for (auto at = header.find("{dir}"); at != std::string::npos;
       at = header.find("{dir}", at + key_dir.size()))
    header.replace(at, 5, key_dir);
  res.headers.add("WWW-Authenticate", header);
  std::string path;
  const azid::TokenResult r = azid::detail::msi::arc_key_file(res, key_dir, path);
  if (r.failure() == azid::Failure::none) {
    // Only good.key qualifies; it is named by the folder and the file name, nothing else.
    FUZZ_CHECK(path == (fs::path(key_dir) / "good.key").string());
  } else {
    FUZZ_CHECK(path.empty());
    FUZZ_CHECK(r.error_info().http_status == 401);
  }
  return 0;
}
