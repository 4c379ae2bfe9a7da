#!/usr/bin/env bash
# The LD_PRELOAD recorder's overhead: a program doing COUNT reads of SIZE bytes (page-cached file),
# timed inside its own loop, without and with `pflab record`; best of REPS runs each. Also the wall time
# of the whole `pflab record` run, which includes writing the trace.
#   scripts/bench_record.sh [BUILD_DIR]      (env: COUNT=200000 SIZE=4096 REPS=5)
set -euo pipefail
build=${1:-build}
count=${COUNT:-200000}
size=${SIZE:-4096}
reps=${REPS:-5}
prog=$build/recorder_progs/rec_pread_loop
pflab=$build/pflab
for f in "$prog" "$pflab" "$build/libpflab_record.so"; do
  [[ -e $f ]] || { echo "bench_record: $f is missing; build the targets pflab and rec_pread_loop" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/data.bin"
cat "$tmp/data.bin" >/dev/null

best() { sort -g | head -1; }

echo "recorder overhead: $count reads of $size B from a page-cached 16 MiB file, best of $reps"
for mode in pread read; do
  extra=()
  [[ $mode == read ]] && extra=(read)
  bare=$(for _ in $(seq "$reps"); do "$prog" "$tmp/data.bin" "$count" "$size" "${extra[@]}"; done | best)
  recorded=$(for _ in $(seq "$reps"); do
    "$pflab" record -o "$tmp/t.jsonl" --file '*.bin' -- "$prog" "$tmp/data.bin" "$count" "$size" "${extra[@]}" 2>/dev/null
  done | best)
  start=$(date +%s.%N)
  "$pflab" record -o "$tmp/t.jsonl" --file '*.bin' -- "$prog" "$tmp/data.bin" "$count" "$size" "${extra[@]}" >/dev/null 2>&1
  end=$(date +%s.%N)
  label=$mode
  [[ $mode == read ]] && label="lseek+read"
  printf '  %-11s without: %7.1f ns/read  with: %7.1f ns/read  overhead: %6.1f ns per recorded call;  pflab record wall time %.2f s\n' \
    "$label" "$bare" "$recorded" "$(awk "BEGIN{print $recorded - $bare}")" "$(awk "BEGIN{print $end - $start}")"
done
