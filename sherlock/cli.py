"""The `sherlock` console script.

    sherlock analyze VIDEO [--model PATH_OR_ID] [--json] [--cache-dir DIR] [--max-new-tokens N]
    sherlock evaluate --dataset DIR_OR_ID [--split test] (--model PATH_OR_ID | --predictions FILE) --output-dir DIR
    sherlock precompute --dataset DIR_OR_ID --processor PATH_OR_ID [--split all] [--cache-dir DIR]
    sherlock train --stage 1|2 --model PATH_OR_ID --dataset DIR_OR_ID --output-dir DIR [--config FILE.yaml] ...

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
from dataclasses import dataclass, field
from pathlib import Path

from .arguments import UsageError, add_dataclass_arguments, one_line
from .evaluate import EvaluateArguments, evaluate_command, format_metrics
from .precompute import PrecomputeArguments, precompute_command
from .push import PushArguments, push_command
from .train import TrainArguments, add_train_arguments, train_arguments, train_command


logger = logging.getLogger("sherlock")

DEMO_MODEL = "demo"
# Seconds to wait for the Hub before saying that it cannot be reached (env SHERLOCK_HUB_TIMEOUT).
HUB_TIMEOUT = float(os.environ.get("SHERLOCK_HUB_TIMEOUT", "5"))
# Files a Sherlock model folder holds.
MODEL_FILES = ("config.json", "processor_config.json")


@dataclass
class AnalyzeArguments:
    """Arguments of `sherlock analyze` (each option's help is its `metadata`)."""

    video: str = field(metadata={"help": "path of the video file"})
    model: str = field(default=DEMO_MODEL, metadata={"help": "model folder or Hub id ('demo': the built-in tiny one)"})
    json: bool = field(default=False, metadata={"help": "print JSON instead of a table"})
    cache_dir: str | None = field(
        default=None, metadata={"help": "feature cache folder (default: <model>/feature_cache for local models)"}
    )
    max_new_tokens: int = field(default=128, metadata={"help": "answer budget"})
    num_frames: int | None = field(default=None, metadata={"help": "frames to sample (default: the processor's, 8)"})
    device: str = field(default="cpu", metadata={"help": "torch device"})


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


def resolve_model(model: str, required_files: tuple[str, ...] = MODEL_FILES) -> str:
    """Check `--model` without loading anything heavy; returns what to load it from.

    - `demo` stays `demo`;
    - an existing path must be a model folder with `required_files` (default: a Sherlock folder, `config.json` and
      `processor_config.json`);
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
        missing = [name for name in required_files if not (path / name).is_file()]
        if missing:
            kind = "a Sherlock model" if required_files == MODEL_FILES else "a model folder"
            raise ModelNotFoundError(f"model folder {model!r} is not {kind} (no {' or '.join(missing)})")
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
                f"{one_line(error)[:160]}): check the network or give a local folder"
            ) from error
        logger.warning("The Hub cannot be reached: using the cached copy of %s", model)
        return cached
    return model


def quiet_libraries(verbose: bool) -> None:
    """Only errors from transformers and huggingface_hub, no download bars (unless `verbose`)."""
    if verbose:
        return
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def default_cache_dir(processor, model_path: str) -> str | None:
    """The feature cache of a loaded model: the processor's, else `<model>/feature_cache` for a local folder outside
    the Hub cache (never written into a Hub snapshot), else None."""
    if processor.cache_dir is not None:
        return processor.cache_dir
    if Path(model_path).is_dir() and not _in_hub_cache(model_path):
        return str(Path(model_path) / "feature_cache")
    return None


def demo_model_path(model_path: str) -> str:
    """The demo model's folder for "demo" (built on first use, with a warning that its weights are random)."""
    if model_path != DEMO_MODEL:
        return model_path
    from .demo import ensure_demo_model

    logger.warning(
        "Using the built-in demo model: tiny and RANDOMLY initialised, so its events are not meaningful "
        "(no trained Sherlock checkpoint exists yet: pass --model for real answers)."
    )
    return str(ensure_demo_model())


def load_sherlock(
    model_path: str,
    device: str = "cpu",
    cache_dir: str | None = None,
    num_frames: int | None = None,
    dtype: str = "auto",
):
    """A Sherlock model (eval mode, on `device`, in `dtype`) and its processor from a resolved `--model` value
    ("demo": the built-in tiny random model). The feature cache is `cache_dir`, else `default_cache_dir`;
    `num_frames` replaces the processor's sampling (also an `fps` one)."""
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor

    model_path = demo_model_path(model_path)
    processor = SherlockProcessor.from_pretrained(model_path)
    processor.cache_dir = cache_dir if cache_dir is not None else default_cache_dir(processor, model_path)
    if num_frames is not None:
        processor.num_frames, processor.fps = num_frames, None
    model = SherlockForConditionalGeneration.from_pretrained(model_path, dtype=dtype).to(device).eval()
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
    quiet_libraries(verbose)
    from .analyze import analyze_video

    model, processor = load_sherlock(model_path, args.device, args.cache_dir, args.num_frames)
    result = analyze_video(model, processor, args.video, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(result.to_dict(args.video), indent=2))
    else:
        print(f"{args.video}: {result.duration:.1f} s, frames at {', '.join(f'{t:.1f}' for t in result.timestamps)} s")
        print(format_table(result))
        logger.info("raw answer: %r", result.answer)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sherlock", description="Video abnormal event extraction and localization.")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = [
        ("analyze", AnalyzeArguments, ("video",), "find the abnormal events of a video", None),
        (
            "evaluate",
            EvaluateArguments,
            (),
            "run a model over an M-VAE split (or score a prediction file): metrics, report (Tables 2-4)",
            "Run a model over an M-VAE split, or score a JSONL prediction file, and write metrics.json, "
            "per_video.json and report.md. Under `accelerate launch` the split is sharded across the processes.",
        ),
        (
            "precompute",
            PrecomputeArguments,
            (),
            "fill the feature cache with the expert features of a dataset's videos",
            "Run a Sherlock processor's expert extractors over the videos of a dataset into its feature cache "
            "(resumable; under `accelerate launch` the videos are sharded across the processes).",
        ),
    ]
    commands.append(
        (
            "push",
            PushArguments,
            ("kind", "folder", "repo_id"),
            "publish a model, a LoRA adapter, a dataset or the Space to the Hub",
            "Publish a folder to the Hub in one commit: a Sherlock model (with its remote code, processor, extractor "
            "models and a model card), a LoRA adapter (with its base model), an M-VAE dataset, or the Space. "
            "Safetensors only; the repo mirrors exactly what is pushed.",
        )
    )
    for name, arguments, positional, help_text, description in commands:
        command = sub.add_parser(name, help=help_text, description=description or help_text)
        add_dataclass_arguments(command, arguments, positional)
        command.add_argument("-v", "--verbose", action="store_true", help="log progress")
    command = sub.add_parser(
        "train",
        help="train Sherlock: stage 1 (pre-tuning on spatial data) or stage 2 (M-VAE), LoRA by default",
        description="Train Sherlock (stage 1: pre-tuning rows as clips; stage 2: M-VAE) with TRL's SFTTrainer and "
        "PEFT LoRA, and export the adapter, the trained modules, the processor and a training record. Options can "
        "come from a YAML file (--config); options given here override it. Runs under `accelerate launch -m "
        "sherlock.cli train ...` and `torchrun -m sherlock.cli train ...`.",
    )
    add_train_arguments(command)
    command.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sherlock` console script; returns the exit code."""
    namespace = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if namespace.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    values = {k: v for k, v in vars(namespace).items() if k not in ("command", "verbose")}
    if namespace.command == "train":
        try:
            return train_command(train_arguments(values), verbose=namespace.verbose)
        except UsageError as error:
            print(f"sherlock train: error: {one_line(error)}", file=sys.stderr)
            return 2
        except (OSError, ValueError, ImportError, RuntimeError) as error:
            print(f"sherlock train: error: {one_line(error)}", file=sys.stderr)
            return 1
    if namespace.command in ("evaluate", "precompute", "push"):
        arguments, command = {
            "evaluate": (EvaluateArguments, evaluate_command),
            "precompute": (PrecomputeArguments, precompute_command),
            "push": (PushArguments, push_command),
        }[namespace.command]
        try:
            return command(arguments(**values), verbose=namespace.verbose)
        except UsageError as error:
            print(f"sherlock {namespace.command}: error: {one_line(error)}", file=sys.stderr)
            return 2
        except (OSError, ValueError, ImportError, RuntimeError) as error:
            print(f"sherlock {namespace.command}: error: {one_line(error)}", file=sys.stderr)
            return 1

    from processing.video_check_sherlock import VideoDecodeError

    args = AnalyzeArguments(**values)
    try:
        return analyze_command(args, verbose=namespace.verbose)
    except VideoDecodeError as error:
        print(f"sherlock analyze: bad video: {one_line(error)}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError) as error:
        print(f"sherlock analyze: error: {one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "AnalyzeArguments",
    "EvaluateArguments",
    "ModelNotFoundError",
    "TrainArguments",
    "analyze_command",
    "build_parser",
    "evaluate_command",
    "format_metrics",
    "format_table",
    "main",
    "train_command",
]
