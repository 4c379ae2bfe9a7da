"""Seeded file contents for the corpus generators that build file trees (gen_squashfs.py, gen_ext4.py):
text that compresses as source code and logs do, and binaries half random and half repetitive, as
native libraries are. The draws from `rng` are part of the data: changing their order changes every
file after it, and with it the images and the traces recorded from them."""
import os
import random


def text(rng: random.Random, size: int, words: list, per_line: tuple, indent: bool = False) -> bytes:
    """Lines of `per_line` (min, max) words drawn from `words`, each indented by 0-12 spaces when
    `indent`, cut to `size` bytes."""
    lines = []
    n = 0
    while n < size:
        prefix = " " * (4 * rng.randrange(4)) if indent else ""
        line = prefix + " ".join(rng.choice(words) for _ in range(rng.randint(*per_line)))
        lines.append(line)
        n += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


def binary(rng: random.Random, size: int) -> bytes:
    """`size` bytes: the first half random, the rest one random 4 KiB block repeated."""
    half = size // 2
    block = rng.randbytes(4096)
    return rng.randbytes(half) + (block * (size // 4096 + 1))[: size - half]


def write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def zero_times(root: str) -> None:
    """Sets every file's and folder's times under `root` to 0, so an image built from it does not
    carry the time it was generated at."""
    for dirpath, _, files in os.walk(root):
        os.utime(dirpath, (0, 0))
        for name in files:
            os.utime(os.path.join(dirpath, name), (0, 0))
