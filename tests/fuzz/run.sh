#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz and runs each for SECONDS.
#
#   tests/fuzz/run.sh SECONDS [target...]     targets: http1 token_json ... (default: all)
#
# Each target starts from its seed corpus (tests/fuzz/corpus/<target>, read only) and keeps what
# it finds in build-fuzz/corpus/<target>; a dictionary tests/fuzz/<target>.dict is used when
# present. Prints the executions of each run; a crash, leak or timeout prints the reproducer's path
# and makes the script exit non-zero (after running the remaining targets).
# Environment: CXX (default clang++-14), BUILD_DIR (default <repo>/build-fuzz), JOBS (default 2).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
seconds="${1:?usage: run.sh SECONDS [target...]}"
shift
build="${BUILD_DIR:-$repo/build-fuzz}"
all=(http1 token_json sts_error dev_tool arc_challenge url certificate jwt challenge)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="${CXX:-clang++-14}" \
  -DAZID_BUILD_FUZZERS=ON -DAZID_BUILD_TESTS=OFF -DAZID_BUILD_EXAMPLES=OFF >/dev/null || exit 2
if ! cmake --build "$build" -j"${JOBS:-2}" --target $(printf 'fuzz_%s ' "${targets[@]}") >"$build/build.log" 2>&1; then
  tail -40 "$build/build.log"
  exit 2
fi

status=0
for t in "${targets[@]}"; do
  work="$build/corpus/$t" artifacts="$build/artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$build/fuzz_$t.log"
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/tests/fuzz/fuzz_$t" "$work" "$here/corpus/$t" "${dict[@]}" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts" \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    printf '%-14s ok     %10s execs in %ss, %s\n' "$t" "${execs:-?}" "$seconds" "${cov:-cov: ?}"
  else
    status=1
    printf '%-14s FAILED (exit %s) after %s execs; log %s\n' "$t" "$rc" "${execs:-?}" "$log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant failed|.*runtime error)' "$log" | head -5
    grep -E 'Test unit written to' "$log" | head -3
  fi
done
exit $status
