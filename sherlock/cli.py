"""The `sherlock` console script.

    sherlock analyze VIDEO [--model PATH_OR_ID] [--json] [--cache-dir DIR] [--max-new-tokens N]
    sherlock evaluate --dataset DIR_OR_ID [--split test] --predictions FILE --output-dir DIR [--lenient] [--fps 8]

Errors (a bad video, a missing model, a Hub that cannot be reached) are one readable line on stderr and a non-zero exit
code. The inputs are checked first, with the standard library only (`--help` and input errors answer at once); torch,
transformers and the model load only when there is something to analyze.
"""

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, fields
from pathlib import Path


logger = logging.getLogger("sherlock")

DEMO_MODEL = "demo"
# Seconds to wait for the Hub before saying that it cannot be reached (env SHERLOCK_HUB_TIMEOUT).
HUB_TIMEOUT = float(os.environ.get("SHERLOCK_HUB_TIMEOUT", "5"))
# Files a Sherlock model folder holds.
MODEL_FILES = ("config.json", "processor_config.json")


@dataclass
class AnalyzeArguments:
    """Arguments of `sherlock analyze`."""

    video: str
    model: str = DEMO_MODEL  # a local folder, a Hub id, or "demo" (the built-in tiny random model, built if missing)
    json: bool = False  # print JSON instead of a table
    cache_dir: str | None = None  # feature cache folder (default: <model>/feature_cache for local models)
    max_new_tokens: int = 128
    num_frames: int | None = None  # override the processor's frame count
    device: str = "cpu"


class ModelNotFoundError(OSError):
    """The `--model` value names no local Sherlock folder and no usable Hub repo (one-line message)."""


def _looks_like_hub_id(value: str) -> bool:
    parts = value.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not value.startswith((".", "/", "~"))
        and not any(c.isspace() or c in "\\:" for c in value)
    )


def _hub_error(repo_id: str, error: Exception) -> str | None:
    """Why the Hub refuses `repo_id` (not found, gated, ...), or None when the Hub could not be reached at all."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    if isinstance(error, GatedRepoError):
        return f"model {repo_id!r} is gated on the Hub: request access and log in (`hf auth login`)"
    if isinstance(error, RepositoryNotFoundError):
        return f"model {repo_id!r} not found on the Hub (or private: log in with `hf auth login`)"
    if isinstance(error, HfHubHTTPError) and getattr(error, "response", None) is not None:
        return f"the Hub refused model {repo_id!r} (HTTP {error.response.status_code})"
    return None


def _ask_hub(model_info, repo_id: str) -> Exception | None:
    """`model_info(repo_id)` within `HUB_TIMEOUT` seconds: None when the Hub answered, else the error (a
    `TimeoutError` when it did not answer in time; the request runs in a daemon thread, so a name lookup that hangs
    cannot hold the command)."""
    outcome: list = []

    def ask():
        try:
            model_info(repo_id, timeout=HUB_TIMEOUT)
            outcome.append(None)
        except Exception as error:  # any failure: refused, timed out, DNS, proxy, HTTP errors
            outcome.append(error)

    thread = threading.Thread(target=ask, name="sherlock-hub-probe", daemon=True)
    thread.start()
    thread.join(HUB_TIMEOUT + 1.0)
    if not outcome:
        return TimeoutError(f"no answer within {HUB_TIMEOUT:g} s")
    return outcome[0]


def resolve_model(model: str) -> str:
    """Check `--model` without loading anything heavy; returns what to load it from.

    - `demo` stays `demo`;
    - an existing path must be a Sherlock model folder (`config.json` and `processor_config.json`);
    - a Hub id (`org/name`) is looked up in the local cache first: when it is not cached, the Hub must answer within
      `HUB_TIMEOUT` seconds (and not be switched off with `HF_HUB_OFFLINE`); when it is cached but the Hub cannot be
      reached, the cached snapshot folder is used.

    Raises `ModelNotFoundError` with a one-line message otherwise.
    """
    if model == DEMO_MODEL:
        return model
    path = Path(os.path.expanduser(model))
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"model {model!r} is a file: give a model folder, a Hub id or 'demo'")
        missing = [name for name in MODEL_FILES if not (path / name).is_file()]
        if missing:
            raise ModelNotFoundError(f"model folder {model!r} is not a Sherlock model (no {' or '.join(missing)})")
        return str(path)
    if not _looks_like_hub_id(model):
        raise ModelNotFoundError(f"model {model!r} not found: give a model folder, a Hub id or 'demo'")

    from huggingface_hub import constants, model_info, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        cached = snapshot_download(model, local_files_only=True)
    except HFValidationError as error:
        raise ModelNotFoundError(f"model {model!r} is not a valid Hub id ({error})") from error
    except (LocalEntryNotFoundError, OSError, ValueError):
        cached = None
    offline = constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").upper() in ("1", "ON", "YES")
    if offline:
        if cached is None:
            raise ModelNotFoundError(
                f"model {model!r} is not in the local cache and the Hub cannot be reached (HF_HUB_OFFLINE is set): "
                "download it first or give a local folder"
            )
        return cached
    error = _ask_hub(model_info, model)
    if error is not None:
        refused = _hub_error(model, error)
        if refused is not None:
            raise ModelNotFoundError(refused) from error
        if cached is None:
            raise ModelNotFoundError(
                f"model {model!r} is not in the local cache and the Hub cannot be reached ({type(error).__name__}: "
                f"{_one_line(error)[:160]}): check the network or give a local folder"
            ) from error
        logger.warning("The Hub cannot be reached: using the cached copy of %s", model)
        return cached
    return model


def _quiet_libraries(verbose: bool) -> None:
    if verbose:
        return
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def _load(args: AnalyzeArguments, model_path: str):
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor

    if model_path == DEMO_MODEL:
        from .demo import ensure_demo_model

        model_path = str(ensure_demo_model())
        logger.warning(
            "Using the built-in demo model: tiny and RANDOMLY initialised, so its events are not meaningful "
            "(no trained Sherlock checkpoint exists yet: pass --model for real answers)."
        )
    processor = SherlockProcessor.from_pretrained(model_path)
    if args.cache_dir is not None:
        processor.cache_dir = args.cache_dir
    elif processor.cache_dir is None and Path(model_path).is_dir() and not _in_hub_cache(model_path):
        processor.cache_dir = str(Path(model_path) / "feature_cache")
    if args.num_frames is not None:
        processor.num_frames = args.num_frames
    model = SherlockForConditionalGeneration.from_pretrained(model_path).to(args.device).eval()
    return model, processor


def _in_hub_cache(path: str) -> bool:
    """Whether `path` is a snapshot folder of the Hugging Face cache (never write a feature cache there)."""
    return Path(path).resolve().parent.name == "snapshots"


def format_table(result) -> str:
    """A plain-text table of the events (start, end, quadruple, score)."""
    header = ("start", "end", "subject", "event type", "object", "scene", "score")
    rows = [
        (
            f"{e.start:.1f}",
            f"{e.end:.1f}",
            e.subject or "-",
            e.event_type or "-",
            e.object or "-",
            e.scene or "-",
            f"{e.score:.3f}" if e.score is not None else "-",
        )
        for e in result.events
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if not rows:
        lines.append("No abnormal event.")
    return "\n".join(lines)


def analyze_command(args: AnalyzeArguments, verbose: bool = False) -> int:
    from processing.video_check_sherlock import check_video_file

    check_video_file(args.video)  # before anything heavy: a bad video answers at once
    model_path = resolve_model(args.model)
    _quiet_libraries(verbose)
    from .analyze import analyze_video

    model, processor = _load(args, model_path)
    result = analyze_video(model, processor, args.video, max_new_tokens=args.max_new_tokens)
    if args.json:
        from processing.processing_sherlock import clean_seconds  # 18.72, never 18.719999313354492 or 18.719999

        payload = {
            "video": args.video,
            "duration": clean_seconds(result.duration),
            "frame_times": [clean_seconds(t) for t in result.timestamps],
            "answer": result.answer,
            "events": [event.to_dict() for event in result.events],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(f"{args.video}: {result.duration:.1f} s, frames at {', '.join(f'{t:.1f}' for t in result.timestamps)} s")
        print(format_table(result))
        logger.info("raw answer: %r", result.answer)
    return 0


@dataclass
class EvaluateArguments:
    """Arguments of `sherlock evaluate`."""

    dataset: str  # an M-VAE dataset folder or Hub id (read with `datasets.load_dataset`)
    output_dir: str  # where metrics.json and per_video.json are written
    predictions: str | None = None  # a JSONL prediction file (`sherlock.evaluation.predictions`)
    split: str = "test"
    lenient: bool = False  # skip malformed prediction lines (counted) instead of failing
    fps: float = 8.0  # frame rate of the frame-level classification
    model: str | None = None  # running a model is not built yet
    compare: str | None = None  # another run's output folder: print both side by side with paired t-tests


class UsageError(ValueError):
    """A command line that cannot work as given (exit code 2)."""


def _load_gold_rows(args: EvaluateArguments, verbose: bool) -> list[dict]:
    """The rows of `args.split` of the dataset, as dicts (`datasets` imported here: the `data` extra)."""
    try:
        import datasets
    except ImportError as error:
        raise ImportError(
            "`sherlock evaluate` needs the `datasets` package: pip install 'sherlock-mvae[data]'"
        ) from error
    if not verbose:
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    try:
        split = datasets.load_dataset(args.dataset, split=args.split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as error:
        raise ValueError(
            f"cannot load split {args.split!r} of dataset {args.dataset!r}: {_one_line(error)}"
        ) from error
    missing = [name for name in ("video_id", "events") if name not in split.column_names]
    if missing:
        raise ValueError(f"dataset {args.dataset!r} is not an M-VAE dataset (no column {', '.join(missing)})")
    return list(split)


def format_metrics(metrics: dict) -> str:
    """A short plain-text table of the headline metrics, in percent with two decimals."""
    rows = [(f"extraction {t}", v) for t, v in metrics["extraction"]["single"].items()]
    rows += [(f"extraction {t}", v) for t, v in metrics["extraction"]["pair"].items()]
    rows.append(("extraction quadruple", metrics["extraction"]["quadruple"]))
    rows += [(f"localization {k}", v) for k, v in metrics["localization"].items()]
    rows += [(f"classification {k}", metrics["classification"][k]) for k in ("fnr", "f2")]
    rows += [(f"FNR {scene}", v) for scene, v in metrics["classification"]["per_scene_fnr"].items()]
    cells = [(name, "-" if value is None or value != value else f"{100 * value:.2f}") for name, value in rows]
    width = max(len(name) for name, _ in cells)
    lines = [f"{'metric'.ljust(width)}  value (%)", f"{'-' * width}  ---------"]
    lines += [f"{name.ljust(width)}  {value.rjust(9)}" for name, value in cells]
    return "\n".join(lines)


def evaluate_command(args: EvaluateArguments, verbose: bool = False) -> int:
    """`sherlock evaluate`: score a prediction file on a dataset split, write metrics.json and per_video.json."""
    if args.model is not None:
        raise UsageError("model runs are not built yet: pass --predictions FILE (a JSONL prediction file) instead")
    if args.predictions is None:
        raise UsageError("--predictions FILE is required")
    predictions_path = Path(args.predictions)
    if not predictions_path.is_file():
        raise FileNotFoundError(f"no such predictions file: {args.predictions}")
    if not (args.fps > 0 and args.fps != float("inf")):
        raise UsageError(f"--fps must be a positive number, got {args.fps}")
    output_dir = Path(args.output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"--output-dir {args.output_dir!r} is a file, not a folder")

    from .evaluation.predictions import read_predictions
    from .evaluation.scoring import per_video_scores, score, write_metrics

    rows = _load_gold_rows(args, verbose)
    predictions, report = read_predictions(predictions_path, [row["video_id"] for row in rows], lenient=args.lenient)
    metrics = score(rows, predictions, fps=args.fps)
    metrics["details"]["predictions_file"] = {
        key: report[key] for key in ("lines", "videos", "events", "videos_without_prediction", "skipped")
    }
    per_video = per_video_scores(rows, predictions, fps=args.fps)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_metrics(output_dir / "metrics.json", metrics)
    write_metrics(output_dir / "per_video.json", per_video)
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
    print(f"wrote {output_dir / 'metrics.json'} and {output_dir / 'per_video.json'}")
    if args.compare is not None:
        from .evaluation.compare import compare_runs, format_comparison

        comparison = compare_runs(output_dir, Path(args.compare))
        write_metrics(output_dir / "comparison.json", comparison)
        print()
        print(format_comparison(comparison, output_dir.name or "this run", Path(args.compare).name or "other"))
        print(f"wrote {output_dir / 'comparison.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sherlock", description="Video abnormal event extraction and localization.")
    sub = parser.add_subparsers(dest="command", required=True)
    analyze = sub.add_parser("analyze", help="find the abnormal events of a video")
    analyze.add_argument("video", help="path of the video file")
    defaults = {f.name: f.default for f in fields(AnalyzeArguments) if f.name != "video"}
    analyze.add_argument("--model", default=defaults["model"], help="model folder or Hub id ('demo': built-in tiny)")
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a table")
    analyze.add_argument("--cache-dir", default=None, help="feature cache folder")
    analyze.add_argument("--max-new-tokens", type=int, default=defaults["max_new_tokens"])
    analyze.add_argument("--num-frames", type=int, default=None, help="frames to sample (processor default: 8)")
    analyze.add_argument("--device", default=defaults["device"], help="torch device (default: cpu)")
    analyze.add_argument("-v", "--verbose", action="store_true", help="log progress")
    evaluate = sub.add_parser(
        "evaluate",
        help="score a prediction file on an M-VAE split (Tables 2-4)",
        description="Score a JSONL prediction file on an M-VAE dataset split; writes metrics.json and per_video.json.",
    )
    evaluate.add_argument("--dataset", required=True, help="M-VAE dataset folder or Hub id")
    evaluate.add_argument("--split", default="test", help="dataset split (default: test)")
    evaluate.add_argument("--predictions", default=None, help="JSONL prediction file, one line per video")
    evaluate.add_argument("--output-dir", required=True, help="folder for metrics.json and per_video.json")
    evaluate.add_argument("--lenient", action="store_true", help="skip malformed prediction lines (counted)")
    evaluate.add_argument("--fps", type=float, default=8.0, help="frame rate of the frame-level scores (default: 8)")
    evaluate.add_argument("--model", default=None, help="(not built yet: pass --predictions)")
    evaluate.add_argument(
        "--compare", default=None, help="another run's output folder: both side by side, with paired t-tests"
    )
    evaluate.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sherlock` console script; returns the exit code."""
    namespace = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if namespace.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    values = {k: v for k, v in vars(namespace).items() if k not in ("command", "verbose")}
    if namespace.command == "evaluate":
        try:
            return evaluate_command(EvaluateArguments(**values), verbose=namespace.verbose)
        except UsageError as error:
            print(f"sherlock evaluate: error: {_one_line(error)}", file=sys.stderr)
            return 2
        except (OSError, ValueError, ImportError) as error:
            print(f"sherlock evaluate: error: {_one_line(error)}", file=sys.stderr)
            return 1

    from processing.video_check_sherlock import VideoDecodeError

    args = AnalyzeArguments(**values)
    try:
        return analyze_command(args, verbose=namespace.verbose)
    except VideoDecodeError as error:
        print(f"sherlock analyze: bad video: {_one_line(error)}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError) as error:
        print(f"sherlock analyze: error: {_one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "AnalyzeArguments",
    "EvaluateArguments",
    "ModelNotFoundError",
    "analyze_command",
    "build_parser",
    "evaluate_command",
    "format_metrics",
    "format_table",
    "main",
]
