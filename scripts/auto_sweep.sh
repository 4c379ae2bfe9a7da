#!/usr/bin/env bash
# The sweep that chose `auto`'s defaults (reports/findings/auto.md, "Defaults"): the acceptance
# comparison's traces (the corpus and every generator pattern at three sizes) x a grid of auto's
# parameters and every anchor, for seeds 1-5 on three network profiles (and the corpus alone on the three
# slow links of reports/findings/slow_links.profiles.json), with `pflab sweep`; then
# scripts/auto_sweep_summary.py ranks the grid points by the acceptance target (cells within 1.10x of
# the fastest anchor at no more than 1.5x its bytes, and the geometric mean of elapsed / oracle).
# Results are resumable JSONL files in $OUT/sweep (rerunning skips what is done).
set -euo pipefail
pflab=${PFLAB:-build/pflab}
out=${OUT:-out/auto-sweep}
jobs=${JOBS:-2}
mkdir -p "$out/traces" "$out/sweep"
for p in sequential random backtrack visits-home strided footer-then-columns parquet-hinted multi-stream mix; do
  "$pflab" gen "$p" -o "$out/traces/$p.jsonl" > /dev/null
  "$pflab" gen "$p" --object-size 16MiB --read-size 64KiB --count 256 -o "$out/traces/$p-small.jsonl" > /dev/null
  "$pflab" gen "$p" --object-size 1TiB --read-size 4MiB --count 256 -o "$out/traces/$p-huge.jsonl" > /dev/null
done
mkdir -p "$out/traces-corpus"
cp traces/corpus/*.jsonl "$out/traces/"
cp traces/corpus/*.jsonl "$out/traces-corpus/"
grid=(
  'auto(ahead=4|8|16,max_request=4MiB|16MiB,hedge=0|2)'
  'auto(whole=false)' 'auto(eager=false)' 'auto(grow=false)' 'auto(measure=false)' 'auto(keep=false)'
  'auto(retain=false)' 'auto(hints=false)' 'auto(eager_hints=true)' 'auto(gate=false)' 'auto(share=false)'
  'auto(pace=false)' 'auto(probe=false)' 'auto(stream=false)'
  'auto(reuse=0)' 'auto(cursors=1)' 'auto(ramp=2)'
  'auto(whole_after=1|4)' 'auto(confirm=1|3)' 'auto(link=0|2|4|6)'
)
anchors=(none oracle fsspec-readahead fsspec-blockcache fsspec-mmap fsspec-bytes fsspec-first fsspec-all
  fsspec-background gcsfs-v795 'gcsfs-v795(concurrency=4)' gcsfs-adaptive gcsfs-concurrent linux-readahead
  mountpoint-s3 gcsfuse gcsfuse-buffered arrow-coalesce 'arrow-coalesce(lazy=false)'
  'fsspec-readahead > gcsfs-v795' 'fsspec-blockcache > gcsfs-adaptive')
args=()
for g in "${grid[@]}" "${anchors[@]}"; do args+=(--policy "$g"); done
for profile in gcs-regional gcs-cross-region local-fast; do
  for seed in 1 2 3 4 5; do
    "$pflab" sweep --traces "$out/traces" "${args[@]}" --profile "$profile" --seed "$seed" --jobs "$jobs" \
      --no-baseline -q -o "$out/sweep/$profile-$seed.jsonl" > /dev/null
  done
done
# The links slower than the acceptance's profiles (reports/findings/auto.md, "On links slower than the
# profiles"): the corpus's real traces only, as reports/findings/slow_links.py measures them.
for profile in link-200MB link-50MB link-12MB; do
  for seed in 1 2 3 4 5; do
    "$pflab" sweep --traces "$out/traces-corpus" "${args[@]}" --profile "$profile" \
      --profiles reports/findings/slow_links.profiles.json --seed "$seed" --jobs "$jobs" \
      --no-baseline -q -o "$out/sweep/$profile-$seed.jsonl" > /dev/null
  done
done
/usr/bin/env python3 scripts/auto_sweep_summary.py --defaults 'auto(ahead=16,max_request=4MiB,hedge=2)' \
  "$out/sweep"/*.jsonl
