# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Speed of the synthetic M-VAE build (`sherlock-build-synthetic`) with one worker and with all of them, in one run.

The script builds the same `--num-videos` videos (seed `--seed`, the builder's default settings otherwise) twice
into temporary folders, first in process (`--num-workers 1`), then with `--workers` worker processes (default: one
per CPU core, the builder's default), and prints for each the wall time, videos per second, the speed-up of the
workers over one, and the time the same rate gives for `--target` videos (default 4,000, what the training recipe
uses). The imports (several seconds, once per command) are not timed. It then checks that both builds wrote the same
bytes (every mp4, every feature-cache safetensors file and the parquet rows): the build is deterministic per seed,
whatever the number of workers.

    python benchmarks/benchmark_synthetic_build.py                    # 200 videos (about half a minute on 2 cores)
    python benchmarks/benchmark_synthetic_build.py --num-videos 1000
    python benchmarks/benchmark_synthetic_build.py --quick            # a tiny smoke run (a few seconds)
"""

import argparse
import hashlib
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset_scripts.build_synthetic import SyntheticArguments  # noqa: E402
from dataset_scripts.synthetic_build import build_synthetic  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-videos", type=int, default=200, help="videos per build (default 200)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes of the second build (0: per core)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both builds (default 0)")
    parser.add_argument("--size", default="128x96", help="WIDTHxHEIGHT of the frames (default 128x96)")
    parser.add_argument("--target", type=int, default=4000, help="videos to extrapolate the build time to")
    parser.add_argument("--quick", action="store_true", help="8 small videos: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_videos, args.size = 8, "64x48"
    return args


def _digests(folder: Path) -> dict[str, str]:
    """sha256 of every video, feature array file and parquet file (the manifests hold their creation time)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.suffix in (".mp4", ".safetensors", ".parquet")
    }


def build(folder: Path, args, workers: int) -> dict:
    settings = SyntheticArguments(
        output_dir=str(folder), num_videos=args.num_videos, seed=args.seed, size=args.size, num_workers=workers
    )
    started = time.perf_counter()
    build_synthetic(settings)
    seconds = time.perf_counter() - started
    return {"workers": workers, "seconds": seconds, "videos_per_s": args.num_videos / seconds}


def main(argv=None) -> dict:
    args = parse_args(argv)
    workers = args.workers or min(multiprocessing.cpu_count(), 8)
    print(
        f"synthetic build: {args.num_videos} videos, seed {args.seed}, {args.size}, "
        f"{multiprocessing.cpu_count()} CPU cores, 1 worker then {workers}",
        flush=True,
    )
    results, digests = [], []
    with tempfile.TemporaryDirectory(prefix="sherlock-synthetic-bench-") as tmp:
        for count in (1, workers):
            folder = Path(tmp) / f"workers{count}"
            results.append(build(folder, args, count))
            digests.append(_digests(folder))
    base = results[0]["videos_per_s"]
    print(f"| workers | seconds | videos/s | speed-up | {args.target} videos |")
    print("|---|---|---|---|---|")
    for result in results:
        result["speedup"] = result["videos_per_s"] / base
        result["target_minutes"] = args.target / result["videos_per_s"] / 60
        print(
            f"| {result['workers']} | {result['seconds']:.1f} | {result['videos_per_s']:.1f} | "
            f"{result['speedup']:.2f}x | {result['target_minutes']:.1f} min |"
        )
    identical = digests[0] == digests[1]
    print(f"same bytes with 1 and {workers} workers ({len(digests[0])} files): {'yes' if identical else 'NO'}")
    return {"results": results, "identical": identical, "files": len(digests[0])}


if __name__ == "__main__":
    summary = main()
    sys.exit(0 if summary["identical"] else 1)
