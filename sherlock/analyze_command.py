"""`sherlock analyze VIDEO`: the arguments and the command (heavy imports inside the command, so `--help` and input
errors answer at once). Every option is checked before the model loads (`check_analyze_arguments`)."""

import json
import logging
from dataclasses import dataclass, field

from .arguments import (
    MAX_FRAMES,
    MAX_NEW_TOKENS,
    UsageError,
    check_count,
    check_device,
    check_folder_option,
    check_rate,
)
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
    max_new_tokens: int = field(default=128, metadata={"help": f"answer budget (1 to {MAX_NEW_TOKENS} tokens)"})
    num_frames: int | None = field(
        default=None, metadata={"help": f"frames to sample uniformly, 1 to {MAX_FRAMES} (default: the processor's, 8)"}
    )
    fps: float | None = field(
        default=None, metadata={"help": f"sample this many frames per second instead (at most {MAX_FRAMES} frames)"}
    )
    device: str = field(default="cpu", metadata={"help": "torch device: cpu, cuda, cuda:N, mps, xpu"})


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


def check_analyze_arguments(args: AnalyzeArguments) -> None:
    """Every option of `sherlock analyze` that can be checked without the model (`UsageError`, one line); the video
    file is checked by the command right after."""
    check_count("--max-new-tokens", args.max_new_tokens, MAX_NEW_TOKENS)
    check_count("--num-frames", args.num_frames, MAX_FRAMES)
    check_rate("--fps", args.fps)
    if args.fps is not None and args.num_frames is not None:
        raise UsageError("give --num-frames or --fps, not both")
    check_folder_option("--cache-dir", args.cache_dir)
    check_device(args.device)


def analyze_command(args: AnalyzeArguments, verbose: bool = False) -> int:
    """`sherlock analyze` (module docstring): checks the options, the video and the model, then loads the model."""
    from processing.video_check_sherlock import check_video_file

    check_analyze_arguments(args)
    check_video_file(args.video)  # before anything heavy: a bad video answers at once
    model_path = resolve_model(args.model)
    if args.fps is not None:  # the frame count at this rate (probed, not decoded) must stay within MAX_FRAMES
        from processing.video_sherlock import load_video

        clip = load_video(args.video, fps=args.fps, decode=False, max_frames=None)
        if len(clip.timestamps) > MAX_FRAMES:
            raise UsageError(
                f"--fps {args.fps:g} samples {len(clip.timestamps)} frames of this {clip.duration:.1f} s video, more "
                f"than {MAX_FRAMES}: lower --fps (at most {MAX_FRAMES / clip.duration:.3g}) or give --num-frames"
            )
    quiet_libraries(verbose)
    from .analyze import analyze_video

    model, processor = load_sherlock(model_path, args.device, args.cache_dir, args.num_frames)
    if args.fps is not None:
        processor.num_frames, processor.fps = None, args.fps
    result = analyze_video(model, processor, args.video, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(result.to_dict(args.video), indent=2))
    else:
        print(f"{args.video}: {result.duration:.1f} s, frames at {', '.join(f'{t:.1f}' for t in result.timestamps)} s")
        print(format_table(result))
        logger.info("raw answer: %r", result.answer)
    return 0


__all__ = ["AnalyzeArguments", "analyze_command", "check_analyze_arguments", "format_table"]
