"""`python -m sherlock.extractor_training`: render, train, measure and save the demo's three extractors.

Defaults: 2,000 training frames of seed 0 for SAM 2, 4,000 for RT-DETR and ViTPose (the first 2,000 are SAM 2's), 200
held-out frames of seed 1, 12,000 / 8,000 / 3,500 steps. Measured on one CPU thread of a shared 2-core machine:
RT-DETR 12,000 steps in 41 min, ViTPose 8,000 steps in 15 min, SAM 2 (512x512) 3,500 steps in 21 min; about 80 min in
all. `--time-limit M` bounds each model to M minutes (a model stopped by it is recorded as `stopped_early`). Every
stage is resumable: a finished model is kept, and one stopped by the time limit or interrupted resumes from its
checkpoint under `DIR/.checkpoints/` (written every 100 steps).
"""

import argparse
import json
import os
import sys
import time


PARTS = ("detector", "pose", "segmenter")


def build_parser() -> argparse.ArgumentParser:
    """The command's options (standard library only: `--help` answers at once)."""
    parser = argparse.ArgumentParser(
        prog="python -m sherlock.extractor_training",
        description="Train the demo's RT-DETR, ViTPose and SAM 2 on frames of the synthetic renderer, measure them on "
        "held-out frames of another seed and write them (safetensors + configs) into --output-dir.",
    )
    parser.add_argument("--output-dir", required=True, help="folder of detector/, pose/, segmenter/ and the record")
    parser.add_argument("--seed", type=int, default=0, help="synthetic seed of the training frames (default 0)")
    parser.add_argument("--eval-seed", type=int, default=1, help="synthetic seed of the held-out frames (default 1)")
    parser.add_argument("--train-frames", type=int, default=2000, help="training frames of SAM 2 (default 2000)")
    parser.add_argument(
        "--detector-train-frames",
        type=int,
        default=4000,
        help="training frames of RT-DETR (default 4000: with 12,000 steps its mAP@0.5 went from 0.54 to 0.74; the "
        "first --train-frames are SAM 2's)",
    )
    parser.add_argument(
        "--pose-train-frames",
        type=int,
        default=4000,
        help="training frames of the pose model (default 4000: its arms need more poses; the first --train-frames are "
        "SAM 2's)",
    )
    parser.add_argument("--eval-frames", type=int, default=200, help="held-out frames (default 200)")
    parser.add_argument("--detector-steps", type=int, default=12000, help="RT-DETR steps of 16 frames (default 12000)")
    parser.add_argument("--pose-steps", type=int, default=8000, help="ViTPose steps of 32 crops (default 8000)")
    parser.add_argument("--segmenter-steps", type=int, default=3500, help="SAM 2 steps of 4 frames (default 3500)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which models (default all)")
    parser.add_argument("--time-limit", type=float, default=None, help="minutes per model, then it stops early")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--fresh", action="store_true", help="retrain even what a previous run finished")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """One-line `ValueError` for bad sizes or equal seeds."""
    names = ("train_frames", "detector_train_frames", "pose_train_frames", "eval_frames", "detector_steps")
    names += ("pose_steps", "segmenter_steps")
    for name in (*names, "threads"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.seed == args.eval_seed:
        raise ValueError(f"--eval-seed must differ from --seed (held-out frames), both are {args.seed}")
    if args.time_limit is not None and args.time_limit <= 0:
        raise ValueError(f"--time-limit must be positive minutes, got {args.time_limit}")


def part_frames(args, part: str) -> int:
    """The training frames of `part` (the first ones of the rendered frames)."""
    return {"detector": args.detector_train_frames, "pose": args.pose_train_frames}.get(part, args.train_frames)


def train_part(part: str, args, train, held_out, folder: str, progress_cls) -> dict:
    """Train, save and measure one model; returns its record entry."""
    from . import detector, pose, segmenter

    checkpoint = os.path.join(args.output_dir, ".checkpoints", f"{part}.pt")
    limit = None if args.time_limit is None else args.time_limit * 60
    steps = getattr(args, f"{part}_steps")
    with progress_cls(total=steps, desc=f"train {part}", mininterval=2, dynamic_ncols=True) as bar:
        loop = {"checkpoint": checkpoint, "time_limit": limit, "progress": bar}
        if part == "detector":
            model, processor = detector.build_detector(args.seed)
            result = detector.train_detector(model, processor, train[: part_frames(args, part)], steps, **loop)
        elif part == "pose":
            model, processor = pose.build_pose(args.seed)
            result = pose.train_pose(model, processor, train[: part_frames(args, part)], steps, **loop)
        else:
            model, processor = segmenter.build_segmenter(args.seed), None
            result = segmenter.train_segmenter(model, train[: part_frames(args, part)], steps, **loop)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    if processor is not None:
        processor.save_pretrained(folder)
    else:
        from ..tiny_extractors import write_sam2_preprocessor_config

        write_sam2_preprocessor_config(folder, segmenter.SEGMENTER_SIDE)
    if os.path.isfile(checkpoint) and not result["stopped_early"]:
        os.remove(checkpoint)  # the model is saved: a later run keeps it (the record names its steps)
    if part == "detector":
        metrics = detector.evaluate_detector(folder, held_out)
    elif part == "pose":
        metrics = pose.evaluate_pose(folder, held_out)
    else:
        metrics = segmenter.evaluate_segmenter(folder, held_out)
    losses = result["losses"]
    return {
        "train_frames": part_frames(args, part),
        "steps": result["steps"],
        "stopped_early": result["stopped_early"],
        "train_seconds": round(result["seconds"], 1),
        "loss_first": round(sum(losses[:20]) / max(len(losses[:20]), 1), 4),
        "loss_last": round(sum(losses[-20:]) / max(len(losses[-20:]), 1), 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "metrics": metrics,
    }


def main(argv=None) -> int:
    """Run the command; returns the exit code (2 with one line on stderr for bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        check_arguments(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    import torch
    from tqdm.auto import tqdm

    from .data import render_samples

    torch.set_num_threads(args.threads)
    os.makedirs(args.output_dir, exist_ok=True)
    record_path = os.path.join(args.output_dir, "training_record.json")
    record = {}
    if os.path.isfile(record_path) and not args.fresh:
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
    settings = {key: getattr(args, key) for key in ("seed", "eval_seed", "eval_frames")}  # each part: its frames
    if record.get("settings") != settings:
        record = {"settings": settings, "parts": {}}
    began = time.monotonic()
    rendered = max(args.train_frames, args.detector_train_frames, args.pose_train_frames)
    with tqdm(total=rendered + args.eval_frames, desc="render frames", mininterval=2) as bar:
        train = render_samples(args.seed, rendered, progress=bar.update)
        held_out = render_samples(args.eval_seed, args.eval_frames, progress=bar.update)
    for part in args.parts:
        folder = os.path.join(args.output_dir, part)
        steps = getattr(args, f"{part}_steps")
        done = record["parts"].get(part)
        same = done and done.get("steps") == steps and done.get("train_frames") == part_frames(args, part)
        if same and os.path.isfile(os.path.join(folder, "model.safetensors")):
            print(f"{part}: already trained ({steps} steps), kept", file=sys.stderr)
            continue
        if args.fresh:
            checkpoint = os.path.join(args.output_dir, ".checkpoints", f"{part}.pt")
            if os.path.isfile(checkpoint):
                os.remove(checkpoint)
        record["parts"][part] = train_part(part, args, train, held_out, folder, tqdm)
        with open(record_path, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1)
    record["total_seconds_last_run"] = round(time.monotonic() - began, 1)
    record["threads"] = args.threads
    with open(record_path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1)
    print(format_record(record))
    return 0


def format_record(record: dict) -> str:
    """The metrics of a training record, one line per model."""
    names = {"detector": "box mAP@0.5", "pose": "keypoint PCK@0.1", "segmenter": "mask IoU"}
    keys = {"detector": "map50", "pose": "pck@0.1", "segmenter": "mask_iou"}
    settings = record["settings"]
    lines = [f"held-out frames: {settings['eval_frames']} of seed {settings['eval_seed']} (trained on frames of seed "
             f"{settings['seed']})"]  # fmt: skip
    for part, entry in record["parts"].items():
        lines.append(
            f"{part:9s} {names[part]:17s} {entry['metrics'][keys[part]]:.3f}  ({entry['train_frames']} frames, "
            f"{entry['steps']} steps, {entry['train_seconds']:.0f} s, loss {entry['loss_first']} -> {entry['loss_last']})"
        )
        if "mask_iou_shipped" in entry["metrics"]:
            lines[-1] += f"; {entry['metrics']['mask_iou_shipped']:.3f} at logit threshold "
            lines[-1] += f"{entry['metrics']['shipped_mask_threshold']:g}"
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
