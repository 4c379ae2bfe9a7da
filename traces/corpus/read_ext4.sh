#!/bin/sh
# Holdout workload: files read out of an ext4 disk image without mounting it, as image-inspection and
# forensics tools do, through e2fsprogs' debugfs: a directory listing, two configuration files, a
# package's libraries, a log, and the inode of a large data file (`stat`). Each debugfs is its own
# process (a stream); it reads the superblock and group descriptors first, then inodes, directories,
# extent trees and data, one 4 KiB block per read.
#
# Usage: read_ext4.sh IMAGE
set -eu
PATH="$PATH:/usr/sbin:/sbin"
img="$1"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
debugfs -R "ls -l /etc" "$img" >/dev/null 2>&1
debugfs -R "cat /etc/conf117" "$img" >/dev/null 2>&1
debugfs -R "cat /etc/conf.d/conf040" "$img" >/dev/null 2>&1
debugfs -R "rdump /usr/lib/pkg05 $out" "$img" >/dev/null 2>&1
debugfs -R "dump /var/log/syslog.3 $out/syslog.3" "$img" >/dev/null 2>&1
debugfs -R "stat /home/user/data/big2.bin" "$img" >/dev/null 2>&1
