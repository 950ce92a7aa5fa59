#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD_DIR for SECONDS each, seeded from tests/corpus and
# tests/fuzz/seeds. Findings land in BUILD_DIR/fuzz/artifacts; the working corpora persist in
# BUILD_DIR/fuzz/corpus so later runs continue where this one stopped.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work="$build_dir/fuzz"
mkdir -p "$work/artifacts"

seeds_for() {
  case "$1" in
    yaml_manifest_fuzzer) echo "$source_dir/tests/corpus/good $source_dir/tests/corpus/bad $source_dir/examples" ;;
    json_decode_fuzzer) echo "$source_dir/tests/fuzz/seeds/json" ;;
    parsers_fuzzer) echo "$source_dir/tests/fuzz/seeds/parsers" ;;
  esac
}

failed=0
for name in yaml_manifest_fuzzer json_decode_fuzzer parsers_fuzzer; do
  bin="$build_dir/tests/fuzz/$name"
  if [ ! -x "$bin" ]; then
    echo "missing $bin (build the fuzz_targets target with LIFEBOAT_BUILD_FUZZ=ON)" >&2
    exit 1
  fi
  corpus="$work/corpus/$name"
  mkdir -p "$corpus"
  echo "== $name for ${seconds}s"
  # shellcheck disable=SC2046
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
      "$corpus" $(seeds_for "$name") 2>"$work/$name.log"; then
    echo "!! $name found a problem: see $work/$name.log and $work/artifacts/" >&2
    tail -n 40 "$work/$name.log" >&2
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/$name.log" | sed 's/^/   /'
  fi
done
exit $failed
