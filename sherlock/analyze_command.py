"""`sherlock analyze VIDEO`: the arguments and the command (heavy imports inside the command, so `--help` and input
errors answer at once)."""

import json
import logging
from dataclasses import dataclass, field

from .loading import DEMO_MODEL, load_sherlock, quiet_libraries, resolve_model


logger = logging.getLogger("sherlock")


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


__all__ = ["AnalyzeArguments", "analyze_command", "format_table"]
