#!/bin/sh
# Holdout workload: a qcow2 disk image inspected and imported with qemu-img, as an image kept in a
# bucket is before a VM boots from it: `info` (the header), `check` (every metadata table: refcounts
# and the L2 tables that map the disk), `map` (the allocation, from the L2 tables), then `convert` to a
# raw disk (every allocated cluster read in the disk's order, which is not the image's: the image
# holds the clusters in the order the guest wrote them). qemu-img reads through its own thread pool,
# several reads at once, each thread a stream.
#
# Usage: read_qcow2.sh IMAGE
set -eu
img="$1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
qemu-img info "$img" >/dev/null
qemu-img check -q "$img"
qemu-img map "$img" >/dev/null
qemu-img convert -O raw "$img" "$out/disk.raw"
