#!/usr/bin/env bash
# The default comparison: every generator's default trace against every registered policy (fsspec-parts
# needs its parts and is left out), two stacks, and the oracle every table shows the others against.
set -euo pipefail
pflab=${PFLAB:-build/pflab}
out=${OUT:-out}
mkdir -p "$out/traces"
patterns=(sequential random backtrack visits-home strided footer-then-columns parquet-hinted multi-stream)
traces=()
for p in "${patterns[@]}"; do
  "$pflab" gen "$p" -o "$out/traces/$p.jsonl"
  traces+=("$out/traces/$p.jsonl")
done
POLICIES=${POLICIES:-'none,oracle,fsspec-readahead,fsspec-blockcache,fsspec-mmap,fsspec-bytes,fsspec-first,fsspec-all,fsspec-background,gcsfs-v795,gcsfs-v795(concurrency=4),gcsfs-adaptive,gcsfs-concurrent,linux-readahead,mountpoint-s3,gcsfuse,arrow-coalesce,arrow-coalesce(lazy=false),fsspec-readahead > gcsfs-v795,fsspec-blockcache > gcsfs-adaptive'}
"$pflab" compare "${traces[@]}" \
  --policies "$POLICIES" \
  --profile gcs-regional --seed 1 --json "$out/demo.json" --md "$out/demo.md"
echo "wrote $out/demo.md and $out/demo.json"
