"""`sherlock evaluate`: run a model over an M-VAE split (or read another system's predictions) and score it.

    sherlock evaluate --dataset DIR_OR_ID [--split test] (--model PATH_OR_ID | --predictions FILE) --output-dir DIR
    accelerate launch --multi_gpu --num_processes N -m sherlock.cli evaluate ...   # the split sharded over N processes

Writes `predictions.jsonl` (model runs; resumable), `metrics.json`, `per_video.json`, `report.md` with its plots,
`run_summary.json` (model runs: throughput and time per phase) and, with `--compare`, `comparison.json`.
"""

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from .arguments import (
    MAX_FRAMES,
    MAX_NEW_TOKENS,
    UsageError,
    check_count,
    check_device,
    check_folder_option,
    check_rate,
)


logger = logging.getLogger("sherlock")
# What a run writes, removed first when this run does not write it again (a reused --output-dir keeps nothing stale).
OPTIONAL_OUTPUTS = ("gate_weights.csv", "gate_weights.png", "run_summary.json", "comparison.json")


def _help(text: str, default=None):
    return field(default=default, metadata={"help": text})


@dataclass
class EvaluateArguments:
    """Arguments of `sherlock evaluate` (each option's help is its `metadata`)."""

    dataset: str = field(metadata={"help": "M-VAE dataset folder or Hub id (read with datasets.load_dataset)"})
    output_dir: str = field(metadata={"help": "run folder: predictions, metrics, per-video scores, report"})
    model: str | None = _help(
        "run this model: a Sherlock folder / Hub id / 'demo', or a transformers video LLM (model_type video_llava, "
        "llava_onevision, qwen2_vl or qwen2_5_vl) (default without --predictions: the built-in demo model)"
    )
    predictions: str | None = _help("score this JSONL prediction file (one line per video) instead of running a model")
    split: str = _help("dataset split", "test")
    video_root: str | None = _help("folder the dataset's `video` column is relative to (default: <dataset>/videos)")
    batch_size: int = _help("videos per generate call", 1)
    max_new_tokens: int = _help("answer budget per video", 128)
    num_frames: int | None = _help("frames per video (default: the processor's; 8 for other video LLMs)")
    device: str | None = _help("torch device (default: this process's GPU under accelerate, else cuda or cpu)")
    dtype: str = _help("model dtype: auto (as saved), float32, bfloat16 or float16", "auto")
    cache_dir: str | None = _help("Sherlock's feature cache folder (default: the processor's)")
    overwrite: bool = _help("discard the predictions of an earlier run in --output-dir (default: resume it)", False)
    lenient: bool = _help("skip malformed prediction lines (counted) instead of failing", False)
    fps: float = _help("frame rate of the frame-level FNR / F2", 8.0)
    judge: list[str] | None = _help(
        "add a judge score (repeatable): 'embedding', 'embedding:MODEL', 'llm:CHAT_MODEL' or 'llm:URL@MODEL' "
        "(an OpenAI-compatible server; key from OPENAI_API_KEY)"
    )
    compare: str | None = _help("another run's output folder: both side by side, with paired t-tests")
    max_timeline_videos: int = _help("videos drawn in the report's timeline plots", 100)


DTYPES = ("auto", "float32", "bfloat16", "float16")


def _check_arguments(args: EvaluateArguments) -> None:
    """Everything that can be checked before a model runs (a typo must not cost a whole run)."""
    if args.model is not None and args.predictions is not None:
        raise UsageError("give exactly one of --model PATH_OR_ID (run a model) and --predictions FILE (score a file)")
    if args.predictions is None and args.model is None:
        from .loading import DEMO_MODEL

        args.model = DEMO_MODEL  # as `sherlock analyze`: the built-in demo model
    if args.predictions is not None and not Path(args.predictions).is_file():
        raise FileNotFoundError(f"no such predictions file: {args.predictions}")
    check_rate("--fps", args.fps)
    check_count("--batch-size", args.batch_size)
    check_count("--max-new-tokens", args.max_new_tokens, MAX_NEW_TOKENS)
    check_count("--num-frames", args.num_frames, MAX_FRAMES)
    check_count("--max-timeline-videos", args.max_timeline_videos)
    check_folder_option("--output-dir", args.output_dir)
    check_folder_option("--cache-dir", args.cache_dir)
    if args.dtype not in DTYPES:
        raise UsageError(f"--dtype must be one of {', '.join(DTYPES)}, got {args.dtype!r}")
    if args.compare is not None and not (Path(args.compare) / "metrics.json").is_file():
        raise UsageError(f"--compare {args.compare!r} is not a run folder (no metrics.json)")
    if args.judge:
        from .evaluation.judges import parse_judge_spec

        for spec in args.judge:
            try:
                parse_judge_spec(spec)
            except ValueError as error:
                raise UsageError(str(error)) from error
    if args.model is not None or args.judge:
        check_device(args.device)


def format_metrics(metrics: dict) -> str:
    """A short plain-text table of the headline metrics, in percent with two decimals."""
    from .evaluation.events import JUDGE_TARGETS

    rows = [(f"extraction {t}", v) for t, v in metrics["extraction"]["single"].items()]
    rows += [(f"extraction {t}", v) for t, v in metrics["extraction"]["pair"].items()]
    rows.append(("extraction quadruple", metrics["extraction"]["quadruple"]))
    rows += [(f"localization {k}", v) for k, v in metrics["localization"].items()]
    rows += [(f"classification {k}", metrics["classification"][k]) for k in ("fnr", "f2")]
    rows += [(f"FNR {scene}", v) for scene, v in metrics["classification"]["per_scene_fnr"].items()]
    for judge, scores in metrics.get("judges", {}).items():
        rows += [(f"judge {judge}: {t}", scores[t]) for t in JUDGE_TARGETS]
    cells = [(name, "-" if value is None or value != value else f"{100 * value:.2f}") for name, value in rows]
    width = max(len(name) for name, _ in cells)
    lines = [f"{'metric'.ljust(width)}  value (%)", f"{'-' * width}  ---------"]
    lines += [f"{name.ljust(width)}  {value.rjust(9)}" for name, value in cells]
    return "\n".join(lines)


def load_predictor(args: EvaluateArguments, model_path: str, device: str):
    """A Sherlock model (`config.json` `model_type` "sherlock", or "demo") as a `SherlockPredictor`; a supported
    transformers video LLM (Video-LLaVA, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL) as a `VideoLLMPredictor`, zero-shot
    with the same frames, instruction and parser; anything else is a one-line `ValueError`."""
    from .loading import DEMO_MODEL, adapter_folder

    if model_path != DEMO_MODEL and adapter_folder(model_path) is None:  # an adapter is a Sherlock one (its base)
        from .evaluation.baselines import VideoLLMPredictor, load_video_llm, model_kind

        if model_kind(model_path) == "video_llm":
            model, processor = load_video_llm(model_path, device=device, dtype=args.dtype)
            return VideoLLMPredictor(
                model, processor, num_frames=args.num_frames or 8, max_new_tokens=args.max_new_tokens, name=args.model
            )
    from .evaluation.sherlock_predictor import SherlockPredictor
    from .loading import load_sherlock

    model, processor = load_sherlock(
        model_path, device, cache_dir=args.cache_dir, num_frames=args.num_frames, dtype=args.dtype
    )
    if device != "cpu":
        processor.set_extractor_device(device)  # a cache miss runs the extractors beside the model
    return SherlockPredictor(model, processor, max_new_tokens=args.max_new_tokens, name=args.model)


def run_model(args: EvaluateArguments, rows: list[dict], verbose: bool, model_path: str) -> dict | None:
    """Run `--model` (resolved: `model_path`) over the split into `<output_dir>/predictions.jsonl`; None on the
    processes other than the main one (they only predict their shard)."""
    from .evaluation.dataset import resolve_video_root, video_items
    from .evaluation.runner import process_device, process_state, run_predictions
    from .loading import quiet_libraries

    items = video_items(rows, resolve_video_root(args.dataset, args.video_root))
    quiet_libraries(verbose)
    state = process_state(args.device)
    predictor = load_predictor(args, model_path, process_device(state, args.device))
    dataset = os.path.abspath(os.path.expanduser(args.dataset)) if Path(args.dataset).exists() else args.dataset
    run_config = {"dataset": dataset, "split": args.split}
    summary = run_predictions(
        predictor, items, args.output_dir, args.batch_size, run_config, overwrite=args.overwrite, state=state
    )
    return summary if state.is_main_process else None


def _judge_scores(specs: list[str], gold: dict, predictions: dict, device: str, verbose: bool) -> tuple[dict, dict]:
    """`({spec: {target: score, "videos", ..., "settings"}}, {video_id: {"judge <spec> <target>": score}})` of the
    `--judge`s (see `evaluation.judges`); the per-video scores join `per_video.json` (paired t-tests of `--compare`)."""
    from .evaluation.judges import build_judge
    from .loading import quiet_libraries

    quiet_libraries(verbose)
    scores, per_video = {}, {video_id: {} for video_id in gold}
    for spec in specs:
        judge = build_judge(spec, device=device)
        split_scores, video_scores = judge.evaluate(gold, predictions)
        scores[spec] = {**split_scores, "settings": judge.settings()}
        for target, values in video_scores.items():
            for video_id, value in values.items():
                per_video[video_id][f"judge {spec} {target}"] = value
    return scores, per_video


def evaluate_command(args: EvaluateArguments, verbose: bool = False) -> int:
    """`sherlock evaluate` (module docstring)."""
    _check_arguments(args)
    from .evaluation.dataset import load_split_rows

    if args.model is not None:
        from .loading import resolve_model

        model_path = resolve_model(args.model, required_files=("config.json",))
    rows = load_split_rows(args.dataset, args.split, verbose)
    output_dir = Path(args.output_dir)
    run = None
    if args.model is not None:
        run = run_model(args, rows, verbose, model_path)
        if run is None:
            return 0
        predictions_path = Path(run["predictions"])
    else:
        predictions_path = Path(args.predictions)

    from .evaluation.predictions import read_predictions
    from .evaluation.report import write_report
    from .evaluation.scoring import gold_from_rows, per_video_scores, resolve_durations, score, write_metrics

    started = time.perf_counter()
    predictions, report = read_predictions(predictions_path, [row["video_id"] for row in rows], lenient=args.lenient)
    metrics = score(rows, predictions, fps=args.fps)
    metrics["details"]["predictions_file"] = {
        key: report[key] for key in ("lines", "videos", "events", "videos_without_prediction", "skipped")
    }
    gold, durations = gold_from_rows(rows)
    if args.judge:
        from .evaluation.runner import process_device

        device = process_device(None, args.device)
        metrics["judges"], judged = _judge_scores(args.judge, gold, predictions, device, verbose)
    per_video = per_video_scores(rows, predictions, fps=args.fps)
    for video_id, values in (judged if args.judge else {}).items():
        per_video[video_id].update(values)
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in OPTIONAL_OUTPUTS:
        (output_dir / name).unlink(missing_ok=True)
    write_metrics(output_dir / "metrics.json", metrics)
    write_metrics(output_dir / "per_video.json", per_video)
    scoring_seconds = time.perf_counter() - started
    resolved, _ = resolve_durations(gold, predictions, durations)
    run_info = {"dataset": args.dataset, "split": args.split}
    run_info.update({"model": args.model} if args.model is not None else {"predictions": str(predictions_path)})
    written = write_report(
        output_dir,
        metrics,
        gold,
        predictions,
        resolved,
        gate_weights=report["gate_weights"],
        run_info=run_info,
        max_timeline_videos=args.max_timeline_videos,
    )
    counts = metrics["details"]["counts"]
    print(
        f"{args.dataset} [{args.split}]: {counts['videos']} videos, {counts['gold_events']} gold events, "
        f"{counts['predicted_events']} predicted events ({report['videos_without_prediction']} videos without a "
        "prediction line)"
    )
    if report["skipped"]:
        skipped = ", ".join(f"{reason}: {count}" for reason, count in report["skipped"].items())
        print(f"skipped {sum(report['skipped'].values())} malformed prediction line(s) ({skipped})")
    print(format_metrics(metrics))
    if run is not None:
        summary = throughput_summary(run, scoring_seconds)
        write_metrics(output_dir / "run_summary.json", summary)
        print(format_throughput(summary))
    print(f"wrote {output_dir / 'metrics.json'}, {output_dir / 'per_video.json'} and {len(written)} report file(s)")
    if args.compare is not None:
        from .evaluation.compare import compare_runs, format_comparison

        comparison = compare_runs(output_dir, Path(args.compare))
        write_metrics(output_dir / "comparison.json", comparison)
        print()
        print(format_comparison(comparison, output_dir.name or "this run", Path(args.compare).name or "other"))
        print(f"wrote {output_dir / 'comparison.json'}")
    return 0


def throughput_summary(run: dict, scoring_seconds: float) -> dict:
    """Videos per second of a model run and the share of each phase (decode, extract, preprocess, generate, parse,
    score) in the processes' summed time."""
    phases = {**run["timings"], "score": scoring_seconds}
    total = sum(phases.values()) or 1.0
    seconds = run["seconds"] + scoring_seconds
    return {
        "videos": run["videos"],
        "predicted": run["predicted"],
        "resumed": run["resumed"],
        "processes": run["processes"],
        "seconds": round(seconds, 3),
        "videos_per_second": round(run["predicted"] / run["seconds"], 4) if run["predicted"] else None,
        "phase_seconds": {name: round(value, 3) for name, value in phases.items()},
        "phase_share": {name: round(value / total, 4) for name, value in phases.items()},
    }


def format_throughput(summary: dict) -> str:
    shares = ", ".join(f"{name} {100 * share:.0f}%" for name, share in summary["phase_share"].items())
    rate = summary["videos_per_second"]
    return (
        f"predicted {summary['predicted']} video(s) ({summary['resumed']} resumed) with {summary['processes']} "
        f"process(es): {rate if rate is not None else '-'} videos/s; time per phase: {shares}"
    )


__all__ = ["EvaluateArguments", "UsageError", "evaluate_command", "format_metrics", "load_predictor"]
