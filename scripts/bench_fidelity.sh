#!/usr/bin/env bash
# `make bench-fidelity`: the simulator's predictions against real runs over the fake server shaped by
# the same profile, on a named subset: 5 generated traces x 8 policies (or POLICIES, comma-separated) x
# SEEDS seeds (default 10), on a constant and a lognormal time-scaled profile
# (bench/fidelity/profiles.json). Prints each profile's
# Markdown report (per trace and policy: predicted and measured medians and the error; per trace:
# Kendall tau of the policies' order; the summary line), once predicted with the profile and once with
# the fake server's calibration (`--calibrate`: its overheads per request, per MiB read and per stream, and the
# host's byte throughput across transfers, in the model). Issue 16's targets: constant, median |error|
# at most 3% and worst at most 8%; lognormal, per trace and policy within 5%, tau at least 0.9.
set -euo pipefail
PFLAB=${PFLAB:-build/pflab}
SEEDS=${SEEDS:-10}
PROFILES=${PROFILES:-fid-constant fid-lognormal}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PFLAB" gen sequential --object-size 64MiB --read-size 1MiB --count 24 -o "$work/sequential.jsonl"
"$PFLAB" gen random --object-size 256MiB --read-size 256KiB --count 24 -o "$work/random.jsonl"
"$PFLAB" gen backtrack --count 24 -o "$work/backtrack.jsonl"
"$PFLAB" gen strided --object-size 256MiB --read-size 512KiB --count 24 -o "$work/strided.jsonl"
"$PFLAB" gen multi-stream --streams 4 --object-size 128MiB --read-size 1MiB --count 32 -o "$work/multi-stream.jsonl"
policies=${POLICIES:-none,fsspec-readahead,fsspec-blockcache,gcsfs-v795,linux-readahead,mountpoint-s3,gcsfuse,arrow-coalesce}
status=0
for profile in $PROFILES; do
  for how in "" --calibrate; do
    "$PFLAB" fidelity "$work"/*.jsonl --policies "$policies" --profiles bench/fidelity/profiles.json \
      --profile "$profile" --seeds "$SEEDS" --verify-bytes $how || status=$?
    echo
  done
done
exit $status
