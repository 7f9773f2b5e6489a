"""The `sherlock` console script.

    sherlock analyze VIDEO [--model PATH_OR_ID] [--json] [--cache-dir DIR] [--max-new-tokens N]

Errors (a bad video, a missing model) are one readable line on stderr and a non-zero exit code.
"""

import argparse
import json
import logging
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from processing import SherlockProcessor, VideoDecodeError


logger = logging.getLogger("sherlock")

DEMO_MODEL = "demo"


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


def _load(args: AnalyzeArguments):
    from modeling_sherlock import SherlockForConditionalGeneration

    model_path = args.model
    if model_path == DEMO_MODEL:
        from .demo import ensure_demo_model

        model_path = str(ensure_demo_model())
        logger.warning(
            "Using the built-in demo model: tiny and RANDOMLY initialised, so its events are not meaningful "
            "(a trained demo model arrives with the training issue)."
        )
    elif not Path(model_path).exists() and (model_path.count("/") != 1 or model_path.startswith((".", "/", "~"))):
        raise FileNotFoundError(f"model {model_path!r} not found: give a model folder, a Hub id or 'demo'")
    processor = SherlockProcessor.from_pretrained(model_path)
    if args.cache_dir is not None:
        processor.cache_dir = args.cache_dir
    elif processor.cache_dir is None and Path(model_path).is_dir():
        processor.cache_dir = str(Path(model_path) / "feature_cache")
    if args.num_frames is not None:
        processor.num_frames = args.num_frames
    model = SherlockForConditionalGeneration.from_pretrained(model_path).to(args.device).eval()
    return model, processor


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


def analyze_command(args: AnalyzeArguments) -> int:
    from .analyze import analyze_video

    if not Path(args.video).is_file():
        raise VideoDecodeError(args.video, "no such file")
    model, processor = _load(args)
    result = analyze_video(model, processor, args.video, max_new_tokens=args.max_new_tokens)
    if args.json:
        payload = {
            "video": args.video,
            "duration": result.duration,
            "frame_times": result.timestamps,
            "answer": result.answer,
            "events": [event.to_dict() for event in result.events],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(f"{args.video}: {result.duration:.1f} s, frames at {', '.join(f'{t:.1f}' for t in result.timestamps)} s")
        print(format_table(result))
        logger.info("raw answer: %r", result.answer)
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
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sherlock` console script; returns the exit code."""
    namespace = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if namespace.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not namespace.verbose:
        from huggingface_hub.utils import logging as hub_logging
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        hub_logging.set_verbosity_error()
    values = {k: v for k, v in vars(namespace).items() if k not in ("command", "verbose")}
    args = AnalyzeArguments(**values)
    try:
        return analyze_command(args)
    except VideoDecodeError as error:
        print(f"sherlock analyze: bad video: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"sherlock analyze: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["AnalyzeArguments", "analyze_command", "build_parser", "format_table", "main"]
