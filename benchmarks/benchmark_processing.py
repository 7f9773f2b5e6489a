"""Processing benchmark, in one run: decode + sampling speed (decord and PyAV), extractor time per frame
for each backend, and the speed-up of a cached second pass of the processor.

    python benchmarks/benchmark_processing.py          # ~3 min on 2 cores
    python benchmarks/benchmark_processing.py --quick  # smoke run, a few seconds

Goals (printed as PASS / FAIL, never asserted): decode + sample at 8 fps >= 10x real time on 2 cores; a cached
processor pass >= 20x faster than an uncached one. The cached pass hashes the file, probes its frame times from the
packet headers (no decoding) and reads the expert features and the preprocessed pixels from the feature cache; the
uncached pass decodes the sampled frames, runs the extractors and preprocesses. The extractors here are the tiny
random models of `sherlock/tiny_extractors.py`, the cheapest they can be: real RT-DETR / ViTPose / SAM2 models cost
orders of magnitude more per frame, so the real-model speed-up is larger than the one printed.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "tests", ROOT / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from transformers.utils import logging as hf_logging  # noqa: E402

from processing import SherlockProcessor  # noqa: E402
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings  # noqa: E402
from sherlock.tiny_models import build_tiny_sherlock  # noqa: E402

import benchmark_extractors  # noqa: E402
import benchmark_video_io  # noqa: E402
import video_factory  # noqa: E402


GOAL_CACHE_SPEEDUP = 20.0
hf_logging.disable_progress_bar()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed processor passes of each kind (median)")
    parser.add_argument("--num-frames", type=int, default=8, help="frames the processor samples (default 8)")
    parser.add_argument("--quick", action="store_true", help="smoke run on tiny inputs")
    return parser.parse_args(argv)


def cache_speedup(args) -> dict:
    """Median time of an uncached and a cached processor pass over the same video, and their ratio."""
    duration, size, native_fps = (4.0, (160, 96), 10.0) if args.quick else (60.0, (640, 360), 30.0)
    with tempfile.TemporaryDirectory(prefix="sherlock-processing-bench-") as tmp:
        tmp = Path(tmp)
        video = video_factory.write_video(
            tmp / "bench.mp4", num_frames=int(duration * native_fps), fps=native_fps, size=size, pattern="texture"
        )
        settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=8, max_objects=16)
        settings["objects"]["max_relations"] = 32
        folder = build_tiny_sherlock(tmp / "model", extractors=settings, num_frames=args.num_frames)
        processor = SherlockProcessor.from_pretrained(folder)
        processor(videos=video)  # warm-up: loads the extractor models
        uncached, cached, features_only = [], [], []
        for repeat in range(args.repeats):
            processor.feature_cache_dir = str(tmp / f"cache-{repeat}")
            processor.cache_pixels = True
            start = time.perf_counter()
            processor(videos=video)
            uncached.append(time.perf_counter() - start)
            start = time.perf_counter()
            processor(videos=video)
            cached.append(time.perf_counter() - start)
            processor.cache_pixels = False  # features from the cache, frames decoded again
            start = time.perf_counter()
            processor(videos=video)
            features_only.append(time.perf_counter() - start)
    result = {
        "video": f"{size[0]}x{size[1]}, {duration:g} s at {native_fps:g} fps, {args.num_frames} sampled frames",
        "uncached_s": statistics.median(uncached),
        "cached_s": statistics.median(cached),
        "features_only_s": statistics.median(features_only),
    }
    result["speedup"] = result["uncached_s"] / result["cached_s"]
    result["speedup_features_only"] = result["uncached_s"] / result["features_only_s"]
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    quick = ["--quick"] if args.quick else []
    print("=== decode + sampling (benchmarks/benchmark_video_io.py) ===")
    results = {"video_io": benchmark_video_io.main(quick)}
    print("\n=== extractors, time per frame (benchmarks/benchmark_extractors.py) ===")
    results["extractors"] = benchmark_extractors.main(quick)
    print("\n=== feature cache: second pass of the processor ===")
    if args.quick:
        args.repeats = 1
    cache = cache_speedup(args)
    results["cache"] = cache
    verdict = "PASS" if cache["speedup"] >= GOAL_CACHE_SPEEDUP else "FAIL"
    print(f"video: {cache['video']}; tiny random extractors; median of {args.repeats}")
    print(f"  uncached pass (decode + extract + preprocess)        {cache['uncached_s'] * 1e3:9.1f} ms")
    print(
        f"  cached pass (hash + probe + read features, pixels)   {cache['cached_s'] * 1e3:9.1f} ms   "
        f"speed-up {cache['speedup']:.1f}x  [{verdict}: goal >= {GOAL_CACHE_SPEEDUP:g}x]"
    )
    print(
        f"  cached features only (decode + preprocess again)     {cache['features_only_s'] * 1e3:9.1f} ms   "
        f"speed-up {cache['speedup_features_only']:.1f}x"
    )
    return results


if __name__ == "__main__":
    main()
