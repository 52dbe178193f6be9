"""What hashing every byte of a dataset's files costs, against the earlier key on a sample of large files.

The frame caches key each source file on its content (:func:`spikeforge.data.cache.content_key`).
Files over 1 MiB used to be keyed on a sample of their bytes (the first and last 64 KiB and 14
blocks of 16 KiB between), which missed an edit between the samples; every byte is hashed now.
This measures both on a dataset-sized tree: ``--small`` files of N-MNIST's size (random sizes
around 15 KB, as its ``.bin`` recordings) and ``--large`` files of 1.5 MB (CIFAR10-DVS-sized
recordings), warm in the page cache (each file is read once before timing), with the rounds of
the two rules interleaved (the machine is shared: compare the ratio, not single numbers). It also
times the remembered path (:class:`~spikeforge.data.cache.ContentKeys`: one ``stat`` per file),
which is what every run after the first pays.

Run: ``./run python benchmarks/bench_content_key.py [--small 3000 --large 100 --rounds 3]``;
writes ``benchmarks/results/bench_content_key.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from spikeforge.data import cache as cache_module
from spikeforge.data.cache import ContentKeys, content_key

RESULTS = Path(__file__).with_name("results")


def sampled_key(path: Path) -> str:
    """The earlier key: every byte up to 1 MiB; above, the edges and 14 inner blocks (for comparison only)."""
    edge, blocks, block = 64 << 10, 14, 16 << 10
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size <= 1 << 20:
            h.update(fh.read())
        else:
            step = (size - 2 * edge) // (blocks + 1)
            spans = [(0, edge), (size - edge, edge)] + [(edge + k * step, block) for k in range(1, blocks + 1)]
            for offset, length in spans:
                fh.seek(offset)
                h.update(fh.read(length))
    return f"{size}:{h.hexdigest()}"


def make_tree(root: Path, small: int, large: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    files = []
    for i in range(small):
        path = root / "small" / str(i % 10) / f"{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.integers(0, 256, int(rng.integers(5_000, 25_000)), dtype=np.uint8).tobytes())
        files.append(path)
    for i in range(large):
        path = root / "large" / f"{i:04d}.aedat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.integers(0, 256, 1_500_000, dtype=np.uint8).tobytes())
        files.append(path)
    return files


def timed(fn, files: list[Path]) -> float:
    t0 = time.perf_counter()
    for f in files:
        fn(f)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--large", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = make_tree(Path(tmp), args.small, args.large)
        total = sum(f.stat().st_size for f in files)
        timed(content_key, files)  # warm the page cache
        large = files[args.small :]
        full, sampled, large_full, large_sampled = [], [], [], []
        for _ in range(args.rounds):  # interleaved: both rules see the same load
            full.append(timed(content_key, files))
            sampled.append(timed(sampled_key, files))
            large_full.append(timed(content_key, large))
            large_sampled.append(timed(sampled_key, large))
        memo = ContentKeys(Path(tmp) / "keys.json")
        settled = time.time_ns() + 10**10
        real_ns = cache_module.time.time_ns
        cache_module.time.time_ns = lambda: settled  # the files count as settled: remembered
        try:
            for f in files:
                memo.key(f)
            memo.save()
            remembered = ContentKeys(Path(tmp) / "keys.json")
            stat_only = timed(remembered.key, files)
        finally:
            cache_module.time.time_ns = real_ns
    out = {
        "files": len(files),
        "small_files": args.small,
        "large_files_1_5MB": args.large,
        "bytes": total,
        "full_hash_s": min(full),
        "sampled_key_s": min(sampled),
        "full_over_sampled": min(full) / min(sampled),
        "full_hash_GB_per_s": total / min(full) / 1e9,
        "large_files_full_hash_s": min(large_full),
        "large_files_sampled_key_s": min(large_sampled),
        "large_files_full_hash_GB_per_s": args.large * 1_500_000 / min(large_full) / 1e9,
        "remembered_stat_only_s": stat_only,
        "rounds": args.rounds,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_content_key.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
