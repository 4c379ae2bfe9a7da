#!/usr/bin/env bash
# The default comparison: every generator's default trace against the bundled policies.
set -euo pipefail
pflab=${PFLAB:-build/pflab}
out=${OUT:-out}
mkdir -p "$out/traces"
patterns=(sequential random backtrack visits-home strided footer-then-columns multi-stream)
traces=()
for p in "${patterns[@]}"; do
  "$pflab" gen "$p" -o "$out/traces/$p.jsonl"
  traces+=("$out/traces/$p.jsonl")
done
"$pflab" compare "${traces[@]}" \
  --policies 'none,fsspec-readahead,gcsfs-v795,gcsfs-v795(concurrency=4),gcsfs-adaptive,fsspec-readahead > gcsfs-v795' \
  --profile gcs-regional --seed 1 --json "$out/demo.json" --md "$out/demo.md"
echo "wrote $out/demo.md and $out/demo.json"
