#!/usr/bin/env bash
# Compile time of a one-credential consumer TU (header-only and with separate compilation), beside
# its baselines compiled in the same run, and the stripped size and shared-library count of the
# consumer. Usage: bench/compile_and_size.sh [runs]   (needs a configured build/ for azid_compiled)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
CXX=${CXX:-g++}
flags="-std=c++20 -O2 -DASIO_STANDALONE -DASIO_NO_DEPRECATED -Iinclude"

cat > "$tmp/consumer.cpp" <<'CPP'
#include <azid/credentials/client_secret.hpp>
#include <cstdio>
int main(int argc, char** argv) {
  try {
    azid::ClientSecretCredential<> c(argc > 1 ? argv[1] : "t", "client", "secret");
    auto t = c.get_token({.scopes = {"https://vault.azure.net/.default"}});
    std::printf("%lld\n", t.expires_on_unix());
  } catch (const std::exception& e) { std::puts(e.what()); return 1; }
}
CPP
# The target's baseline, exactly as issue #3 words it: a TU that only includes the dependencies.
cat > "$tmp/deps_only.cpp" <<'CPP'
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <simdjson.h>
int main() {}
CPP
# For reference: the same TU also instantiating an io_context, a TLS context and a parser.
cat > "$tmp/deps_used.cpp" <<'CPP'
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <simdjson.h>
int main() { asio::io_context io; asio::ssl::context ctx(asio::ssl::context::tls_client); simdjson::ondemand::parser p; (void)p; io.run(); }
CPP
cat > "$tmp/std_only.cpp" <<'CPP'
#include <string>
#include <vector>
#include <memory>
#include <cstdio>
int main() { std::vector<std::string> v{"a"}; auto p = std::make_shared<std::string>("x"); std::printf("%zu\n", v.size() + p->size()); }
CPP

best() {  # best wall time of $runs compiles, in seconds
  local b=999
  for _ in $(seq "$runs"); do
    local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N)
    b=$(awk -v s="$s" -v e="$e" -v b="$b" 'BEGIN { d = e - s; print (d < b) ? d : b }')
  done
  printf '%.2f' "$b"
}

t_std=$(best $CXX $flags -c "$tmp/std_only.cpp" -o "$tmp/std.o")
t_deps=$(best $CXX $flags -c "$tmp/deps_only.cpp" -o "$tmp/deps.o")
t_used=$(best $CXX $flags -c "$tmp/deps_used.cpp" -o "$tmp/used.o")
t_ho=$(best $CXX $flags -c "$tmp/consumer.cpp" -o "$tmp/ho.o")
t_sep=$(best $CXX $flags -DAZID_SEPARATE_COMPILATION -c "$tmp/consumer.cpp" -o "$tmp/sep.o")

$CXX $flags "$tmp/ho.o" -o "$tmp/consumer" -lssl -lcrypto -lsimdjson -pthread
strip -o "$tmp/consumer.stripped" "$tmp/consumer"
size=$(stat -c %s "$tmp/consumer.stripped")
libs=$(ldd "$tmp/consumer" | grep -c '=>' || true)
echo "compile, std-only TU:                     ${t_std} s"
echo "compile, asio+ssl+simdjson includes only: ${t_deps} s"
echo "compile, the same + io_context/ssl/parser: ${t_used} s"
echo "compile, consumer header-only:            ${t_ho} s  (ratio to includes-only: $(awk -v a="$t_ho" -v b="$t_deps" 'BEGIN { printf "%.2f", a / b }'); to the instantiating TU: $(awk -v a="$t_ho" -v b="$t_used" 'BEGIN { printf "%.2f", a / b }'))"
echo "compile, consumer separate compilation:   ${t_sep} s"
echo "consumer (header-only) stripped size:     ${size} bytes"
echo "consumer shared libraries (ldd):          ${libs}"
ldd "$tmp/consumer" | awk '{print "   ", $1}'
