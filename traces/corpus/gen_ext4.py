#!/usr/bin/python3
"""Holdout data: an ext4 disk image, as VM and machine images are kept in buckets and inspected there.

A seeded system tree (configuration files under /etc, libraries under /usr/lib, logs under /var/log,
a user's data files), written into a 4 KiB-block ext4 file system by `mke2fs -d` (no root, no mount)
with a fixed UUID, hash seed and clock, and files' times set to 0. The layout (which blocks hold which
inode, directory and file) is the same on every run, so the trace is; a few bytes are not (mke2fs 1.47.0
copies each file's change time, which cannot be set, into its inode, and the inode's checksum).

Usage: gen_ext4.py OUT.img   (needs mke2fs: Debian's e2fsprogs)
"""
import os
import random
import subprocess
import sys
import tempfile

from synthetic_files import binary, text, write, zero_times

WORDS = ("kernel network service daemon config value enabled disabled path user group port timeout retry "
         "level debug info warning error started stopped request response cache disk mount").split()


def main() -> None:
    out = os.path.abspath(sys.argv[1])
    rng = random.Random(37)
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "root")
        for i in range(300):
            folder = os.path.join(root, "etc", "conf.d" if i % 4 == 0 else "")
            write(os.path.join(folder, "conf%03d" % i), text(rng, rng.randint(200, 12000), WORDS, (3, 14)))
        for p in range(12):
            for lib in range(rng.randint(2, 6)):
                write(os.path.join(root, "usr", "lib", "pkg%02d" % p, "lib%d.so" % lib),
                      binary(rng, rng.randint(100 * 1024, 3 * 1024 * 1024)))
        for i in range(8):
            size = rng.randint(256 * 1024, 4 * 1024 * 1024)
            write(os.path.join(root, "var", "log", "syslog.%d" % i), text(rng, size, WORDS, (3, 14)))
        for i in range(5):
            write(os.path.join(root, "home", "user", "data", "big%d.bin" % i),
                  binary(rng, rng.randint(8 * 1024 * 1024, 24 * 1024 * 1024)))
        zero_times(root)
        if os.path.exists(out):
            os.remove(out)
        used = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
        with open(out, "wb") as f:
            f.truncate((used * 5 // 4 // (1 << 20) + 16) << 20)
        env = dict(os.environ, E2FSPROGS_FAKE_TIME="1700000000", PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-U", "9b3c1f0e-5a2d-4e7b-8c6a-1d2e3f405162",
                        "-E", "hash_seed=0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9,root_owner=0:0", "-d", root, out],
                       check=True, env=env, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
