#!/bin/sh
# Holdout workload: a container runtime's view of a SquashFS image, through squashfs-tools' unsquashfs.
# Lists the image (superblock, then the inode and directory tables at its end), prints two files as a
# runtime reading its configuration would, then extracts one package's tree (its modules, native
# libraries and data: whole files, in directory order) and the bin/ folder. Each command is its own
# process: its main thread reads the metadata tables and, where it reads file data, a reader thread
# reads the blocks (decompressors run on others): one stream each.
#
# Usage: read_squashfs.sh IMAGE.sqfs
set -eu
img="$1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
unsquashfs -l "$img" >/dev/null
unsquashfs -cat "$img" lib/python3/site-packages/pkg07/mod001.py >/dev/null
unsquashfs -cat "$img" share/doc/f123 >/dev/null
unsquashfs -q -n -d "$out/a" "$img" lib/python3/site-packages/pkg13 >/dev/null
unsquashfs -q -n -d "$out/b" "$img" bin >/dev/null
