"""The synthetic M-VAE build (`sherlock-build-synthetic`, see `build_synthetic` for the design): plan, render,
encode and cache the oracle features of every video (in worker processes), write the rows, the card and push."""

import logging
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

import dataset_scripts.build_synthetic as cli
from dataset_scripts.build_synthetic import SyntheticArguments
from dataset_scripts.dataset_io import ConfigFiles, card_header, markdown_table, write_card, write_splits
from dataset_scripts.mvae_schema import make_row, mvae_features
from dataset_scripts.synthetic_oracle import oracle_features
from dataset_scripts.synthetic_plan import event_type_order, plan_video, split_of
from dataset_scripts.synthetic_render import render_frame
from dataset_scripts.synthetic_world import EVENT_SPECS, MIN_SECONDS, MODALITIES, SYNTHETIC_EVENT_TYPES, Plan
from processing import FeatureCache, load_video, video_content_hash
from sherlock.video_writer import X264_CRF, write_mp4


logger = logging.getLogger(__name__)

GENERATOR_ID = "synthetic-v1"
EXTRACTOR_IDS = {"oracle": GENERATOR_ID}
SOURCE_FIELDS = ("generator", "seed", "index", "scene", "description", "evidence")
CONFIG = "default"
LICENSE = "cc-by-4.0"
SYNTHETIC_MPEG4_BIT_RATE = 400_000


def parse_size(size: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT (e.g. 128x96), got {size!r}") from None
    if width < 32 or height < 32 or width % 2 or height % 2:
        raise ValueError(f"--size needs even sides of at least 32 pixels, got {size!r}")
    return width, height


def video_id(index: int) -> str:
    return f"syn{index:05d}"


def write_video(plan: Plan, path: Path, codec: str = "libx264") -> None:
    """Encode the plan's frames as an mp4 with the project's writer (`sherlock.video_writer.write_mp4`: yuv420p, one
    thread, `ultrafast`, CRF 20 for libx264, 400 kbit/s for mpeg4), so the bytes depend only on the frames (and the
    encoder version)."""
    frames = (render_frame(plan, index) for index in range(plan.num_frames))
    write_mp4(frames, path, plan.fps, codec, x264_options=X264_CRF, bit_rate=SYNTHETIC_MPEG4_BIT_RATE)


def build_video(job: tuple) -> dict:
    """Render, encode and cache the oracle features of one video; returns its row (and plan summary)."""
    seed, index, args_dict, output_dir, order = job
    args = SyntheticArguments(**args_dict)
    plan = plan_video(seed, index, args.duration, args.fps, parse_size(args.size), order)
    name = f"{video_id(index)}.mp4"
    path = Path(output_dir) / "videos" / name
    write_video(plan, path, args.codec)
    probe = load_video(path, num_frames=args.num_frames, decode=False)
    if (
        len(probe.frame_indices) != min(args.num_frames, plan.num_frames)
        or max(probe.frame_indices) >= plan.num_frames
    ):
        raise RuntimeError(f"{name}: the written video reads back with frames {probe.frame_indices.tolist()}")
    if not np.allclose(probe.timestamps, probe.frame_indices / plan.fps, atol=1e-3):
        raise RuntimeError(f"{name}: frame times {probe.timestamps.tolist()} are not frame index / fps")
    features = oracle_features(plan, probe.frame_indices)
    FeatureCache(Path(output_dir) / "features").save(
        video_content_hash(path), probe.timestamps, EXTRACTOR_IDS, features, extra={"source": f"videos/{name}"}
    )
    duration = float(probe.duration)
    for event in plan.events:
        if not 0.0 <= event["start"] <= event["end"] <= duration + 1e-9:
            raise RuntimeError(f"{name}: event {event} outside [0, {duration}]")
    split = split_of(seed, index, args.test_fraction)
    source = {
        "generator": GENERATOR_ID,
        "seed": str(seed),
        "index": str(index),
        "scene": plan.scene,
        "description": "; ".join(plan.description),
        "evidence": "; ".join(plan.evidence),
    }
    row = make_row(video_id(index), name, split, plan.events, duration, source, SOURCE_FIELDS)
    return {"row": row, "people": int(features["pose_mask"].sum(-1).max()), "num_frames": plan.num_frames}


def _pool(num_workers: int):
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    return ProcessPoolExecutor(max_workers=num_workers, mp_context=multiprocessing.get_context(method))


def build_synthetic(args: SyntheticArguments) -> dict:
    """Build the whole dataset folder; returns a summary with the statistics."""
    if args.num_videos < 1:
        raise ValueError(f"--num-videos must be positive, got {args.num_videos}")
    if not 0.0 <= args.test_fraction < 1.0:
        raise ValueError(f"--test-fraction must be in [0, 1), got {args.test_fraction}")
    if args.duration < MIN_SECONDS or args.fps <= 0:
        raise ValueError(
            f"--duration must be at least {MIN_SECONDS:g} s and --fps positive, got {args.duration:g}, {args.fps:g}"
        )
    parse_size(args.size)
    started = time.perf_counter()
    output_dir = Path(args.output_dir)
    (output_dir / "videos").mkdir(parents=True, exist_ok=True)
    order = event_type_order(args.seed)
    args_dict = {k: v for k, v in vars(args).items() if k not in ("hub_token",)}
    jobs = [(args.seed, index, args_dict, str(output_dir), order) for index in range(args.num_videos)]
    workers = args.num_workers or min(multiprocessing.cpu_count(), 8)
    if workers <= 1 or len(jobs) < 4:
        results = [build_video(job) for job in jobs]
    else:
        with _pool(workers) as pool:
            results = list(pool.map(build_video, jobs, chunksize=4))
    rows = [result["row"] for result in results]
    features = mvae_features(SOURCE_FIELDS)
    splits = write_splits(rows, features, output_dir, CONFIG)
    stats = statistics(rows)
    stats["max_people_per_frame"] = max(result["people"] for result in results)
    header = card_header(
        [ConfigFiles(CONFIG, splits, default=True)],
        license=LICENSE,
        pretty_name="Sherlock synthetic M-VAE",
        extra={
            "language": ["en"],
            "task_categories": ["video-text-to-text"],
            "tags": ["sherlock", "synthetic", "video-anomaly", "m-vae", "event-extraction"],
            "size_categories": ["n<1K" if len(rows) < 1000 else "1K<n<10K"],
        },
    )
    write_card(output_dir, header, card_body(args, stats))
    summary = {
        "output_dir": str(output_dir),
        "videos": len(rows),
        "splits": {split: sum(row["split"] == split for row in rows) for split in ("train", "test")},
        "statistics": stats,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.push_to_hub:
        summary["commit_url"] = args.push(output_dir, commit_message="Upload Sherlock synthetic M-VAE")
    return summary


def statistics(rows: list[dict]) -> dict:
    """Counts for the card: events per type / scene / split, videos per event count, evidence modalities."""
    events = [(row, event) for row in rows for event in row["events"]]
    return {
        "videos_per_split": dict(sorted(Counter(row["split"] for row in rows).items())),
        "videos_per_event_count": {str(k): v for k, v in sorted(Counter(len(r["events"]) for r in rows).items())},
        "videos_per_scene": dict(sorted(Counter(row["source"]["scene"] for row in rows).items())),
        "events_per_type": {t: sum(e["event_type"] == t for _, e in events) for t in SYNTHETIC_EVENT_TYPES},
        "events_per_scene": dict(sorted(Counter(e["scene"] for _, e in events).items())),
        "events_per_split": dict(sorted(Counter(r["split"] for r, _ in events).items())),
        "events_per_modality": {
            m: sum(EVENT_SPECS[e["event_type"]].modality == m for _, e in events) for m in MODALITIES
        },
        "mean_duration": round(float(np.mean([row["duration"] for row in rows])), 2),
    }


def card_body(args: SyntheticArguments, stats: dict) -> str:
    type_rows = [
        (t, EVENT_SPECS[t].modality, ", ".join(EVENT_SPECS[t].scenes), stats["events_per_type"][t])
        for t in SYNTHETIC_EVENT_TYPES
    ]
    doc = cli.__doc__
    design = doc[doc.index("Event types (10") : doc.index("Randomness:")].strip()
    oracle = doc[doc.index("Oracle features") : doc.index("Output folder:")].strip()
    parts = [
        "# Sherlock synthetic M-VAE",
        "Procedurally rendered short videos (stick figures from COCO-17 keypoints, vehicles, objects) with 0-2 abnormal "
        "events each, the oracle expert features of Sherlock (pose, objects, relations, background) in the processor's "
        "feature-cache format, and one row per video in the M-VAE schema (subject, event type, object, scene and the "
        "time span of every event; the canonical answer). Built by `sherlock-build-synthetic` "
        f"(`dataset_scripts/build_synthetic.py`, generator `{GENERATOR_ID}`) for tests, the learning benchmark and the "
        "offline demo: small enough to train a tiny Sherlock on CPU in minutes.",
        "## Build",
        f"`sherlock-build-synthetic --output-dir <folder> --num-videos {args.num_videos} --seed {args.seed} "
        f"--num-frames {args.num_frames} --fps {args.fps:g} --size {args.size} --duration {args.duration:g} "
        f"--test-fraction {args.test_fraction:g} --codec {args.codec}` (deterministic per seed; any video can be "
        "regenerated alone from (seed, index)).",
        "## Design",
        design,
        "## Use",
        "```python\nfrom datasets import load_dataset\nfrom processing import SherlockProcessor\n\n"
        'rows = load_dataset("<folder or repo>")  # train / test\n'
        'processor = SherlockProcessor(..., num_frames=8, extractors={"backend": "precomputed"}, '
        'feature_cache_dir="<folder>/features")\n'
        'batch = processor(videos="<folder>/videos/" + rows["train"][0]["video"])\n```\n'
        f"The oracle features exist for `num_frames={args.num_frames}` uniform sampling (other samplings are cache "
        "misses). Their boxes and keypoints are normalised to the full frame; the processor maps them into the view "
        "the model sees (resize and centre crop, what falls outside masked) before they reach the model.",
        oracle,
        "## Layout\n\n```\nvideos/<video_id>.mp4\nfeatures/            feature cache (safetensors + JSON manifests)\n"
        f"{CONFIG}/{{train,test}}-0000i-of-0000n.parquet\nREADME.md\n```",
        "## Statistics",
        f"{sum(stats['videos_per_split'].values())} videos "
        f"({', '.join(f'{k}: {v}' for k, v in stats['videos_per_split'].items())}), mean duration "
        f"{stats['mean_duration']} s.",
        "Videos per number of events:\n\n"
        + markdown_table(["events", "videos"], list(stats["videos_per_event_count"].items())),
        "Events per type (with the evidence modality and the scenes the type is drawn in):\n\n"
        + markdown_table(["event type", "modality", "scenes", "events"], type_rows),
        "Events per scene:\n\n" + markdown_table(["scene", "events"], list(stats["events_per_scene"].items())),
        "Videos per scene:\n\n" + markdown_table(["scene", "videos"], list(stats["videos_per_scene"].items())),
        "Events per split:\n\n" + markdown_table(["split", "events"], list(stats["events_per_split"].items())),
        "Events per evidence modality:\n\n"
        + markdown_table(["modality", "events"], list(stats["events_per_modality"].items())),
        "## Licence",
        f"{LICENSE}: the data is fully synthetic (procedurally generated by the script above); no third-party "
        "content is included.",
    ]
    return "\n\n".join(parts)


__all__ = [
    "EXTRACTOR_IDS",
    "GENERATOR_ID",
    "SOURCE_FIELDS",
    "build_synthetic",
    "build_video",
    "card_body",
    "parse_size",
    "statistics",
    "video_id",
    "write_video",
]
