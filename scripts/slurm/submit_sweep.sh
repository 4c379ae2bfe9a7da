#!/usr/bin/env bash
# Submits a pflab sweep to Slurm as a job array of N shards plus a merge job that runs after all of them,
# whatever their status (afterany: a shard whose runs failed exits 2, and the merge still runs and
# reports them). Each shard writes RESULTS/shard-TASK.jsonl (RESULTS on storage every node sees); the
# merge writes RESULTS/all.jsonl, all.json and all.md and checks that every run of the sweep is there
# exactly once.
#
#   scripts/slurm/submit_sweep.sh N RESULTS [sbatch options...] -- SWEEP OPTIONS...
#   scripts/slurm/submit_sweep.sh 8 /shared/sweep1 --partition=batch -- \
#     --traces /shared/traces --policy 'gcsfs-adaptive(streak=1..4)' --seeds 5 --jobs 2
#
# $PFLAB names the pflab binary (default: pflab on PATH). Prints the merge job's id on stdout.
set -euo pipefail
usage() { echo "usage: $0 SHARDS RESULTS_DIR [SBATCH_OPTION...] -- SWEEP_OPTION..." >&2; exit 1; }
[ $# -ge 3 ] || usage
shards=$1
results=$2
shift 2
[[ "$shards" =~ ^[1-9][0-9]*$ ]] || { echo "$0: SHARDS must be a positive integer, got '$shards'" >&2; exit 1; }
sbatch_options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  sbatch_options+=("$1")
  shift
done
[ "${1:-}" = "--" ] || usage
shift
[ $# -gt 0 ] || usage
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$results"
results="$(cd "$results" && pwd)"
export PFLAB="${PFLAB:-pflab}"
array=$(sbatch --parsable "${sbatch_options[@]}" --job-name=pflab-sweep --array="0-$((shards - 1))" \
  --output="$results/shard-%a.log" --export=ALL "$here/shard.sbatch" "$results" "$@")
array=${array%%;*}
merge=$(sbatch --parsable "${sbatch_options[@]}" --job-name=pflab-merge --dependency="afterany:$array" \
  --output="$results/merge.log" --export=ALL "$here/merge.sbatch" "$results" "$@")
echo "${merge%%;*}"
