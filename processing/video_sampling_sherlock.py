# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The frame timeline and the sampling rules behind `video_sherlock.load_video`.

`VideoClip` (what `load_video` returns); the start time of every frame and the duration of the video, from the
container's raw per-frame times or the nominal `i / fps` (`frame_timeline`, with decord's float32 arithmetic in
`decord_seconds` and the float32 noise removed by `round_seconds`); and the frames a request picks (`sample_indices`):
uniform `num_frames` (segment centres) or a fixed rate `fps` (the frame at or before each time, at most `max_frames`).
The rules are written out in the docstring of `video_sherlock.py`. Both decoding backends
(`video_backends_sherlock.py`) and array inputs build their clips here, which is why they agree frame for frame.

This file ships to the Hub as remote code: standard library, numpy, transformers and single-dot siblings only.
"""

import math
from dataclasses import dataclass

import numpy as np
from transformers.utils import logging

from .video_check_sherlock import VideoDecodeError


# one logger for all of video IO, `video_sherlock`'s (the name to configure), whichever module logs
logger = logging.get_logger(__name__.rpartition(".")[0] + ".video_sherlock")

# "at or before" tolerance for fixed-rate sampling: frame times are float32 (decord's precision), so a frame that
# starts exactly at a sampling time may be stored a hair later; 1e-6 s plus one float32 ulp of the time absorbs that.
_TIME_TOL_ABS = 1e-6
_TIME_TOL_REL = 2.0**-23
TIME_DECIMALS = 6  # timestamps and durations: at most 6 decimals (microseconds), float32 noise removed
_TIMES_PER_CHUNK = 1 << 20


@dataclass
class VideoClip:
    """Frames sampled from a video, with their times (unpacks as `frames, timestamps, duration`).

    frames:        uint8 (num_frames, height, width, 3), RGB, as displayed (container rotation applied).
    timestamps:    float64 (num_frames,), start time of each frame in seconds, strictly increasing.
    duration:      length of the whole video in seconds (end of its last frame).
    fps:           native (average) frame rate of the video.
    frame_indices: int64 (num_frames,), indices of the frames in the native stream (presentation order).
    source:        what was loaded (path, `<file object>`, `<bytes>` or `<array>`), for messages.
    backend:       "decord", "pyav" or "array".
    """

    frames: np.ndarray
    timestamps: np.ndarray
    duration: float
    fps: float
    frame_indices: np.ndarray
    source: str
    backend: str

    def __iter__(self):
        """Unpack as `frames, timestamps, duration = load_video(path)`."""
        return iter((self.frames, self.timestamps, self.duration))


# --------------------------------------------------------------------------------------------------------- timeline


def decord_seconds(pts: np.ndarray, start_time: int, time_base) -> np.ndarray:
    """`(pts - start_time) * time_base` rounded exactly as decord computes it (float32 difference, float64 product,
    float32 result; see decord's `VideoReader::IndexKeyframes`)."""
    delta = pts.astype(np.float32) - np.float32(start_time)
    return (delta.astype(np.float64) * (time_base.numerator / time_base.denominator)).astype(np.float32)


def round_seconds(seconds) -> np.ndarray:
    """Times in seconds as float64 without float32 noise: each value becomes the shortest decimal that reads back as
    the same float32 (decord's precision), rounded to 6 decimals (the microsecond). float32(18.72), stored as
    18.719999313..., becomes 18.72 (not 18.719999), and 1 / 30 becomes 0.033333. Frame times and durations are
    rounded this way at the source, so `clip.timestamps.tolist()` and JSON show `18.72`; a value given as float32 or
    as float64 gives the same result. The change is at most half a float32 ulp plus half a microsecond (about 0.1 ms
    after one hour). Elementwise the same as `round(float(str(np.float32(t))), 6)`, vectorised.
    """
    exact = np.asarray(seconds, dtype=np.float64).astype(np.float32)
    values = exact.astype(np.float64)
    result = np.array(values, dtype=np.float64)  # nan / inf stay as they are
    todo = np.isfinite(values)
    for decimals in range(TIME_DECIMALS + 1):  # the fewest decimals that still identify the float32
        if not todo.any():
            break
        candidate = np.round(values[todo], decimals)
        found = candidate.astype(np.float32) == exact[todo]
        where = np.flatnonzero(todo)[found]
        result[where] = candidate[found]
        todo[where] = False
    # the rest needs more than 6 decimals (times below 16 s): shortest decimal first, then the microsecond
    for i in np.flatnonzero(todo).tolist():
        result.flat[i] = round(float(str(exact.flat[i])), TIME_DECIMALS)
    return result


def frame_timeline(source, starts, stops, avg_fps):
    """(starts float64, duration, fps, from_pts) from the raw per-frame start / stop times (float32; nan when the
    container has no pts) and the container's average frame rate (nan when unknown). `from_pts` is False when the
    nominal times i / fps replaced unusable container times."""
    total = len(starts)
    usable = (
        total > 0
        and bool(np.all(np.isfinite(starts)))
        and bool(np.all(np.isfinite(stops)))
        and bool(np.all(np.diff(starts) > 0))
        and abs(float(starts[0])) < 1.0
    )
    fps = float(avg_fps) if avg_fps is not None and math.isfinite(avg_fps) and avg_fps > 0 else math.nan
    if not math.isfinite(fps) and usable:
        span = float(starts[-1]) - float(starts[0])
        last = float(stops[-1]) - float(starts[-1])
        fps = (total - 1) / span if total > 1 and span > 0 else (1.0 / last if last > 0 else math.nan)
    if not math.isfinite(fps):
        raise VideoDecodeError(source, "zero duration (neither frame times nor a frame rate in the container)")
    if usable:  # float32 times (decord's): their shortest decimals, 18.72 rather than 18.719999
        starts64 = round_seconds(starts)
        end = float(round_seconds(stops[-1:])[0])
        duration = end if end > starts64[-1] else round(float(starts64[-1]) + 1.0 / fps, TIME_DECIMALS)
    else:
        logger.debug("%s: no usable frame timestamps in the container, using index / fps", source)
        starts64 = np.round(np.arange(total, dtype=np.float64) / fps, TIME_DECIMALS)
        duration = round(total / fps, TIME_DECIMALS)
    if not (math.isfinite(duration) and duration > 0):
        raise VideoDecodeError(source, f"zero duration ({duration} s)")
    return starts64, duration, fps, usable


def sample_indices(source, starts, duration, sampling, decode=True) -> np.ndarray:
    """Indices of the sampled frames (sorted, distinct int64), by the two rules in the docstring of video_sherlock.py.

    `sampling` is `(num_frames, fps, max_frames)` as checked by `video_sherlock._check_arguments`. Fixed-rate sampling
    that would give more than `max_frames` frames raises a ValueError before anything is decoded.
    """
    num_frames, fps, max_frames = sampling
    total = len(starts)
    if fps is None:
        if num_frames >= total:
            if num_frames > total:  # a probe (decode=False) is followed by the decode: warn once, there
                logger.log(
                    logging.WARNING if decode else logging.DEBUG,
                    "%s has %d frames, fewer than the %d asked for: returning all %d",
                    source,
                    total,
                    num_frames,
                    total,
                )
            return np.arange(total, dtype=np.int64)
        i = np.arange(num_frames, dtype=np.int64)
        return (2 * i + 1) * total // (2 * num_frames)
    count, chosen = max(1, math.ceil(duration * fps)), [np.zeros(1, dtype=np.int64)]  # t = 0 -> the first frame
    for first in range(0, count, _TIMES_PER_CHUNK):  # in chunks: a huge rate on a long video needs no huge array
        times = np.arange(first, min(count, first + _TIMES_PER_CHUNK), dtype=np.float64) / fps
        times = times + _TIME_TOL_ABS + _TIME_TOL_REL * times  # "at or before", within float32 rounding of frame times
        times = times[times < duration]
        chosen.append(np.searchsorted(starts, times, side="right") - 1)
    indices = np.unique(np.clip(np.concatenate(chosen), 0, total - 1)).astype(np.int64)
    if max_frames is not None and len(indices) > max_frames:
        highest = max_frames / duration  # ceil(duration * rate) <= max_frames for any rate up to this
        scale = 10.0 ** (2 - math.floor(math.log10(highest)))  # 3 significant digits, rounded down
        shown = math.floor(highest * scale) / scale
        raise ValueError(
            f"Sampling {source} at fps={fps:g} gives {len(indices)} frames over its {duration:.1f} s, more than "
            f"max_frames={max_frames}: lower fps (to at most {shown:g} for this video), raise max_frames "
            f"(max_frames=None: no limit; each frame is held decoded in memory), or sample a fixed number of frames "
            f"(num_frames={max_frames})."
        )
    return indices


def make_clip(frames, starts, duration, fps, indices, source, backend) -> VideoClip:
    return VideoClip(
        frames=np.ascontiguousarray(frames, dtype=np.uint8),
        timestamps=starts[indices].astype(np.float64),
        duration=float(duration),
        fps=float(fps),
        frame_indices=indices.astype(np.int64),
        source=source,
        backend=backend,
    )


__all__ = [
    "TIME_DECIMALS",
    "VideoClip",
    "decord_seconds",
    "frame_timeline",
    "make_clip",
    "round_seconds",
    "sample_indices",
]
