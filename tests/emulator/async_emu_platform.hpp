// The asynchronous counterpart of confidential_fixture.hpp's EmuPlatform: AsyncHttpsTransport on
// the test's executor, real files and the real clock, a map for the environment, an in-memory log.
#pragma once

#include <utility>

#include <asio/any_io_executor.hpp>

#include "azid/async/https_transport.hpp"
#include "azid/platform/clock.hpp"
#include "azid/platform/file_reader.hpp"
#include "azid/testing/platform.hpp"

namespace azid_test {

class AsyncEmuPlatform : public azid::testing::BasicPlatform<azid::AsyncHttpsTransport> {
 public:
  AsyncEmuPlatform(asio::any_io_executor ex, azid::TransportOptions o)
      : BasicPlatform(std::move(ex), std::move(o)) {}
  [[nodiscard]] const azid::PosixFileReader& files() const noexcept { return files_; }
  [[nodiscard]] const azid::SystemClock& clock() const noexcept { return clock_; }

 private:
  azid::PosixFileReader files_;
  azid::SystemClock clock_;
};

}  // namespace azid_test
