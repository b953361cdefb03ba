#!/usr/bin/env bash
# Packaging check: installs azid to a temporary prefix, then builds and runs examples/consumer
# (1) against the installed CMake package, (2) with pkg-config's flags and a bare g++, and
# (3) through FetchContent of the source tree, checking azid's tests, tools and install rules
# stay out of a parent project. Offline; nothing is left behind.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
here="$src/examples/consumer"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jobs=${JOBS:-2}

echo "== install azid to $work/prefix"
cmake -S "$src" -B "$work/azid" -DAZID_BUILD_TESTS=OFF -DAZID_BUILD_EXAMPLES=OFF \
  -DCMAKE_INSTALL_PREFIX="$work/prefix" >/dev/null
cmake --install "$work/azid" >/dev/null
test -f "$work/prefix/share/cmake/azid/azidConfig.cmake"
test -f "$work/prefix/share/cmake/azid/azidConfigVersion.cmake"
test -f "$work/prefix/share/pkgconfig/azid.pc"
test -f "$work/prefix/include/azid/src.hpp"

echo "== find_package(azid CONFIG REQUIRED)"
cmake -S "$here" -B "$work/consumer-pkg" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
# The consumer must compile against the installed headers, never the source tree's.
if grep -rq -- "$src/include" "$work/consumer-pkg/CMakeFiles/consumer.dir/flags.make"; then
  echo "consumer compiles against the source tree, not the installed package" >&2
  exit 1
fi
cmake --build "$work/consumer-pkg" -j"$jobs" >/dev/null
"$work/consumer-pkg/consumer"

echo "== pkg-config azid"
export PKG_CONFIG_PATH="$work/prefix/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --modversion azid
# shellcheck disable=SC2046
g++ -std=c++20 $(pkg-config --cflags azid) "$here/main.cpp" -o "$work/consumer-pc" $(pkg-config --libs azid)
"$work/consumer-pc"

echo "== FetchContent of the source tree"
cmake -S "$here" -B "$work/consumer-fc" -DAZID_CONSUMER_FETCH_FROM="$src" >/dev/null
targets=$(cmake --build "$work/consumer-fc" --target help)
for t in azid_tests azid_cli azid-demo azid_emulator; do
  if grep -qw -- "$t" <<<"$targets"; then
    echo "azid's $t leaked into the parent project" >&2
    exit 1
  fi
done
if grep -q "azidTargets" "$work/consumer-fc/_deps/azid-build/cmake_install.cmake" 2>/dev/null; then
  echo "azid's install rules are on in a parent project" >&2
  exit 1
fi
cmake --build "$work/consumer-fc" -j"$jobs" >/dev/null
"$work/consumer-fc/consumer"
echo "== packaging check passed"
