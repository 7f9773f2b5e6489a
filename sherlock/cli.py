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
import logging
import sys

from .analyze_command import AnalyzeArguments, analyze_command, format_table
from .arguments import UsageError, add_dataclass_arguments, one_line
from .evaluate import EvaluateArguments, evaluate_command, format_metrics
from .precompute import PrecomputeArguments, precompute_command
from .push import PushArguments, push_command
from .train import TrainArguments, add_train_arguments, train_arguments, train_command


logger = logging.getLogger("sherlock")


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


def _run(namespace, values: dict) -> int:
    if namespace.command == "train":
        return train_command(train_arguments(values), verbose=namespace.verbose)
    arguments, command = {
        "analyze": (AnalyzeArguments, analyze_command),
        "evaluate": (EvaluateArguments, evaluate_command),
        "precompute": (PrecomputeArguments, precompute_command),
        "push": (PushArguments, push_command),
    }[namespace.command]
    return command(arguments(**values), verbose=namespace.verbose)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sherlock` console script; returns the exit code.

    Every refusal is one line on stderr, `sherlock <command>: error: <why>` (`bad video:` for a video that cannot be
    read): exit code 2 for a command line that cannot work (`UsageError`, a bad video), 1 for what failed while
    running (a missing model or dataset, an unreachable Hub, ...), 130 for Ctrl-C (`interrupted`, no traceback)."""
    namespace = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if namespace.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    values = {k: v for k, v in vars(namespace).items() if k not in ("command", "verbose")}
    prefix = f"sherlock {namespace.command}:"
    from processing.video_check_sherlock import VideoDecodeError

    try:
        return _run(namespace, values)
    except KeyboardInterrupt:
        print(f"{prefix} interrupted", file=sys.stderr)
        return 130
    except VideoDecodeError as error:
        print(f"{prefix} bad video: {one_line(error)}", file=sys.stderr)
        return 2
    except UsageError as error:
        print(f"{prefix} error: {one_line(error)}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError, RuntimeError) as error:
        print(f"{prefix} error: {one_line(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "AnalyzeArguments",
    "EvaluateArguments",
    "TrainArguments",
    "analyze_command",
    "build_parser",
    "evaluate_command",
    "format_metrics",
    "format_table",
    "main",
    "train_command",
]
