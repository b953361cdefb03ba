#!/bin/sh
# bench/soak.sh [SECONDS] [extra azid_soak options]: builds azid_soak under AddressSanitizer
# (LeakSanitizer reports any leak when it exits) and runs it for SECONDS (default 300) against the
# local emulator on 127.0.0.1. Exit status: azid_soak's (non-zero on a failed bound, a leak or a crash).
#   BUILD_DIR   build directory (default build-soak, beside this script's repository root)
#   SANITIZE    sanitizers (default address; address,undefined also works)
#   BUILD_TYPE  CMake build type (default RelWithDebInfo)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-300}
[ $# -gt 0 ] && shift
build=${BUILD_DIR:-$root/build-soak}
launcher=""
command -v ccache >/dev/null 2>&1 && launcher="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DAZID_BUILD_BENCH=ON -DAZID_BUILD_TESTS=OFF \
  -DAZID_SANITIZE="${SANITIZE:-address}" $launcher >/dev/null
cmake --build "$build" -j2 --target azid_soak
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:${ASAN_OPTIONS:-}"
exec "$build/bench/azid_soak" --seconds "$duration" "$@"
