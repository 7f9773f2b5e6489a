# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Time per frame of each expert-extractor backend: detector, pose, relations, background.

By default the backends run the tiny random models of `sherlock/tiny_extractors.py` (RT-DETR at 64x64 with 10 queries,
ViTPose with 64x48 crops, SAM2 at 128x128), built into a temporary folder, so nothing is downloaded: the figures
measure the pipeline's own overhead (preprocessing, batching, post-processing, geometry) plus tiny forwards, not the
cost of the real checkpoints. Pass `--settings file.json` (the `build_extractors` settings, e.g. the Hub defaults
when their weights are cached) to time real models the same way.

Protocol: `--frames` (default 32) random smooth frames of `--width` x `--height` (default 320 x 180); the detector runs
once untimed (it also loads the models), then every backend is timed `--repeats` times (default 5) under
`torch.inference_mode` in round-robin order, and the median wall time divided by the number of frames is reported.
Pose, relations and background are timed on the detector's detections; with the tiny detector at threshold 0.0 every
frame holds `num_queries` = 10 detections, so the workload per frame is fixed (persons are whichever of the 10 carry
the person label). Capacities are the model defaults: 8 persons, 16 objects, 32 relations per frame.

Usage:
    python benchmarks/benchmark_extractors.py            # 32 frames, 5 repeats (~15 s on 2 CPU cores)
    python benchmarks/benchmark_extractors.py --quick    # 4 frames, 1 repeat (smoke test)

`main(argv)` returns the figures as a dict.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch


ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from processing.extractors_sherlock import build_extractors  # noqa: E402


def make_frames(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth random frames (gradient + noise), uint8 (F, H, W, 3)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 / width, ys * 255 / height, (xs + ys) * 127 / (width + height)], axis=-1)
    noise = rng.integers(-20, 20, (num_frames, height, width, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=32, help="frames per clip (default 32)")
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per backend; the median is reported")
    parser.add_argument("--threshold", type=float, default=0.0, help="detector threshold for the tiny models")
    parser.add_argument("--settings", type=str, default=None, help="JSON file of build_extractors settings")
    parser.add_argument("--quick", action="store_true", help="4 frames, 1 repeat: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeats = 4, 1
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.settings:
        settings = json.loads(Path(args.settings).read_text())
        models = "settings file " + args.settings
    else:
        from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings

        settings = tiny_extractor_settings(
            tiny_extractor_models(), threshold=args.threshold, max_persons=8, max_objects=16, max_relations=32
        )
        models = "tiny random models (sherlock/tiny_extractors.py)"
    extractors = build_extractors(settings)
    frames = make_frames(args.frames, args.height, args.width)

    detections = extractors.detector.detect(frames)  # warm-up + model loading
    parts = {"detector": lambda: extractors.detector.detect(frames)}
    if extractors.pose is not None:
        parts["pose"] = lambda: extractors.pose(frames, detections)
    if extractors.objects is not None:
        parts["relations"] = lambda: extractors.objects(frames, detections)
    if extractors.background is not None:
        parts["background"] = lambda: extractors.background(frames, detections)
    for run in list(parts.values())[1:]:
        run()  # load the remaining models, untimed

    times = {name: [] for name in parts}
    outputs = {}
    with torch.inference_mode():
        for _ in range(args.repeats):
            for name, run in parts.items():
                start = time.perf_counter()
                outputs[name] = run()
                times[name].append(time.perf_counter() - start)

    counts = {"detections_per_frame": float(np.mean([len(d) for d in detections]))}
    if "pose" in outputs:
        counts["persons_per_frame"] = float(outputs["pose"]["pose_mask"].sum(-1).mean())
    if "relations" in outputs:
        counts["objects_per_frame"] = float(outputs["relations"]["object_mask"].sum(-1).mean())
        counts["relations_per_frame"] = float(outputs["relations"]["relation_mask"].sum(-1).mean())
    results = {
        "config": {
            "frames": args.frames,
            "height": args.height,
            "width": args.width,
            "repeats": args.repeats,
            "models": models,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
        },
        "extractor_ids": extractors.extractor_ids(),
        "counts": counts,
        "median_s": {name: statistics.median(values) for name, values in times.items()},
    }
    results["per_frame_ms"] = {name: 1000 * value / args.frames for name, value in results["median_s"].items()}

    print(
        f"Expert extractors, {args.frames} frames of {args.width}x{args.height}, median of {args.repeats} "
        f"({models}; {torch.get_num_threads()} threads)"
    )
    print(", ".join(f"{key.replace('_', ' ')}: {value:.1f}" for key, value in counts.items()))
    print(f"{'backend':<12}{'ms / frame':>12}{'s / clip':>12}")
    for name in parts:
        print(f"{name:<12}{results['per_frame_ms'][name]:>12.2f}{results['median_s'][name]:>12.3f}")
    total = sum(results["median_s"].values())
    print(f"{'total':<12}{1000 * total / args.frames:>12.2f}{total:>12.3f}")
    return results


if __name__ == "__main__":
    main()
