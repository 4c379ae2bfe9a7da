#!/usr/bin/env bash
# Runs the libFuzzer targets of build-asan/ (the sanitized build, `make fuzz-build`) one after another
# (the machine is small; libFuzzer would use one core each anyway).
#   scripts/fuzz.sh SECONDS [TARGET...]        each target for SECONDS, new corpus entries kept in
#                                              fuzz/out/corpus/TARGET (git-ignored), crashes in fuzz/out/
#   scripts/fuzz.sh --smoke SECONDS [TARGET...] the committed seeds, then SECONDS of fuzzing, each target;
#                                              nothing kept but crashes
# Every target first runs its committed seed corpus (fuzz/corpus/TARGET, the regression inputs among
# them). Exits non-zero at the first target that crashes, hangs, leaks or breaks a property; libFuzzer
# names the input it saved (reproduce: build-asan/fuzz/fuzz_TARGET FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
fi
seconds="${1:?usage: scripts/fuzz.sh [--smoke] SECONDS [TARGET...]}"
shift
build="${FUZZ_BUILD:-build-asan}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(trace_io binary_trace import_csv import_strace import_gcsfs_log policy_spec sweep_grid range_header fake_server results)
fi

mkdir -p fuzz/out
scratch=""
trap '[ -n "$scratch" ] && rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (make fuzz-build)" >&2; exit 1; }
  if [ $smoke -eq 1 ]; then
    scratch="$(mktemp -d)"
    corpus="$scratch"
  else
    corpus="fuzz/out/corpus/$t"
    mkdir -p "$corpus"
  fi
  extra=()
  [ -f "fuzz/dict/$t.dict" ] && extra=(-dict="fuzz/dict/$t.dict")
  # fake_server keeps one server (and its growing request log) for the whole run, so every input would
  # look like a leak and trigger a full LeakSanitizer scan; the server's leaks are the ASan suite's job.
  [ "$t" = fake_server ] && extra+=(-detect_leaks=0)
  echo "fuzz: $t for ${seconds}s"
  start=$(date +%s)
  # -timeout: one input taking this long is a hang; -rss_limit_mb: more than this is a leak or a blow-up.
  "$bin" "$corpus" "fuzz/corpus/$t" "${extra[@]}" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
    -max_len=4096 -artifact_prefix="fuzz/out/$t-" -print_final_stats=1 >"fuzz/out/$t.log" 2>&1 || {
    echo "fuzz: $t FAILED after $(($(date +%s) - start))s; log: fuzz/out/$t.log" >&2
    grep -E "ERROR|fuzz property failed|SUMMARY|Test unit written|artifact" "fuzz/out/$t.log" | head -20 >&2
    exit 1
  }
  runs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "fuzz/out/$t.log" | grep -o "[0-9]*$" || echo "?")
  cov=$(grep -oE "cov: [0-9]+" "fuzz/out/$t.log" | tail -1 || true)
  echo "fuzz: $t ok: $runs inputs, $cov, $(($(date +%s) - start))s"
  if [ $smoke -eq 1 ]; then
    rm -rf "$scratch"
    scratch=""
  fi
done
