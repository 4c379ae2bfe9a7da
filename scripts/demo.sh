#!/usr/bin/env bash
# The default comparison: every generator's default trace and every trace of the real corpus
# (traces/corpus/) against every registered policy (fsspec-parts needs its parts and is left out), our
# own `auto`, two stacks, and the oracle every table shows the others against.
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
corpus=${CORPUS:-traces/corpus}
for t in "$corpus"/*.jsonl; do
  traces+=("$t")
done
POLICIES=${POLICIES:-'none,oracle,auto,fsspec-readahead,fsspec-blockcache,fsspec-mmap,fsspec-bytes,fsspec-first,fsspec-all,fsspec-background,gcsfs-v795,gcsfs-v795(concurrency=4),gcsfs-adaptive,gcsfs-concurrent,linux-readahead,mountpoint-s3,gcsfuse,gcsfuse-buffered,arrow-coalesce,arrow-coalesce(lazy=false),fsspec-readahead > gcsfs-v795,fsspec-blockcache > gcsfs-adaptive'}
"$pflab" compare "${traces[@]}" \
  --policies "$POLICIES" \
  --profile gcs-regional --seeds ${SEEDS:-5} --json "$out/demo.json" --md "$out/demo.md" --html "$out/demo.html"
echo "wrote $out/demo.md, $out/demo.json and $out/demo.html (open it in a browser; it works offline)"
