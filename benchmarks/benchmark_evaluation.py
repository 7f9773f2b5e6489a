# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Evaluation throughput: `sherlock evaluate --model` on the synthetic test split with the tiny demo model, with one
and with two processes (`accelerate launch --multi_gpu --num_processes 2`, gloo on the CPU), and scoring alone on
10,000 random videos.

    python benchmarks/benchmark_evaluation.py [--videos 40] [--batch-size 4] [--score-videos 10000]

For each process count it runs the split cold (an empty feature cache: the extractors run) and warm (the cache
filled: decoding is probed, the extractors skipped), and prints videos per second and the share of time spent in
decoding, extraction, preprocessing (pixels, tokens), generation, parsing and scoring (the processes' summed time,
from `run_summary.json`). Nothing is downloaded: the demo model and its extractors are tiny and random, so the
figures are the pipeline's overheads, not a real model's generation cost.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PHASES = ("decode", "extract", "preprocess", "generate", "parse", "score")


def _evaluate(dataset: Path, model: Path, output: Path, cache: Path, processes: int, batch_size: int) -> dict:
    arguments = [
        "evaluate", "--dataset", str(dataset), "--split", "test", "--model", str(model), "--output-dir", str(output),
        "--cache-dir", str(cache), "--batch-size", str(batch_size), "--max-new-tokens", "32", "--overwrite",
    ]  # fmt: skip
    if processes == 1:
        command = [sys.executable, "-m", "sherlock.cli", *arguments]
    else:
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "sherlock.cli",
            *arguments,
        ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("WORLD_SIZE", None)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    summary = json.loads((output / "run_summary.json").read_text())
    summary["command_seconds"] = time.perf_counter() - started
    return summary


def _score_random(videos: int, seed: int = 0) -> float:
    """Seconds to score `videos` random videos (1-3 gold and 0-4 predicted events each)."""
    from processing.vocabulary_sherlock import EVENT_TYPES, SCENES
    from sherlock.evaluation.scoring import score

    rng = random.Random(seed)

    def event():
        start = rng.uniform(0, 50)
        return {
            "start": start, "end": start + rng.uniform(0, 10), "subject": rng.choice(["man", "car", "people"]),
            "event_type": rng.choice(EVENT_TYPES), "object": rng.choice(["none", "car", "bag"]),
            "scene": rng.choice(SCENES), "score": rng.random(),
        }  # fmt: skip

    rows = [
        {"video_id": f"v{i}", "duration": 60.0, "events": [event() for _ in range(rng.randint(1, 3))]}
        for i in range(videos)
    ]
    predictions = {f"v{i}": [event() for _ in range(rng.randint(0, 4))] for i in range(videos)}
    started = time.perf_counter()
    score(rows, predictions)
    return time.perf_counter() - started


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40, help="synthetic videos to build (about a quarter are test)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--score-videos", type=int, default=10_000)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic
    from sherlock.demo import ensure_demo_model

    results = {"runs": {}}
    with tempfile.TemporaryDirectory(prefix="sherlock-bench-eval-") as scratch:
        scratch = Path(scratch)
        dataset = scratch / "synthetic"
        build_synthetic(SyntheticArguments(output_dir=str(dataset), num_videos=args.videos, num_frames=8, seed=0))
        model = ensure_demo_model(scratch / "model")
        for processes in args.processes:
            cache = scratch / f"cache-{processes}"
            for state in ("cold", "warm"):
                output = scratch / f"run-{processes}-{state}"
                summary = _evaluate(dataset, model, output, cache, processes, args.batch_size)
                results["runs"][f"{processes} process(es), {state}"] = summary
    results["score_seconds"] = _score_random(args.score_videos)

    print(f"| run | videos | videos/s | {' | '.join(PHASES)} |")
    print(f"|---|---:|---:|{'---:|' * len(PHASES)}")
    for name, summary in results["runs"].items():
        shares = " | ".join(f"{100 * summary['phase_share'][phase]:.0f} %" for phase in PHASES)
        print(f"| {name} | {summary['predicted']} | {summary['videos_per_second']:.2f} | {shares} |")
    print(f"scoring alone: {args.score_videos} random videos in {results['score_seconds']:.2f} s")
    return results


if __name__ == "__main__":
    main()
