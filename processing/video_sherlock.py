# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Video decoding and frame sampling for Sherlock's processor.

    clip = load_video("clip.mp4", num_frames=8)    # 8 frames at the centres of 8 equal segments
    clip = load_video("clip.mp4", fps=2.0)         # one frame every 0.5 s (at most max_frames=256 of them)
    clip.frames (T, H, W, 3) uint8 RGB, clip.timestamps (T,) seconds, clip.duration, clip.fps, clip.frame_indices

Inputs: a path (str / os.PathLike), a binary file object or `bytes` (the bytes are read into memory), a uint8 array
(T, H, W, 3) or a list of H x W x 3 frames (then `array_fps` is required).

Backends: decord (`pip install decord`) or PyAV (`pip install av`), both imported lazily. `backend="auto"` uses decord
when it is importable and falls back to PyAV (logged at debug level) when decord cannot read the file; the two
report the same frame indices, timestamps and duration for the same file and settings.

Timeline (the same in both backends):
  * frame i is the i-th frame in presentation order (packets sorted by pts, as decord indexes them);
  * its timestamp is its start (presentation) time in seconds relative to the start of the video stream,
    `(pts - stream.start_time) * time_base`: decord's `VideoReader.get_frame_timestamp(i)[0]`, which decord computes
    in float32 (about 1e-7 relative: 0.2 ms after one hour). The PyAV path reproduces that arithmetic bit for bit,
    and both turn the float32 into the shortest decimal with at most 6 decimals that reads back as the same float32
    (`round_seconds`: 18.72, not 18.719999; 0.36, not 0.36000001), so the two backends report identical float64
    timestamps, JSON shows them as written, and the feature-cache keys built from them match. For a
    constant-frame-rate video this equals `i / fps` to within 1e-6 s (plus float32 rounding on long videos); unlike
    `i / fps` it stays right for variable-frame-rate video;
  * when the container's timestamps are unusable (missing pts, not strictly increasing, no stream start time),
    both backends use the nominal times `i / fps` instead;
  * `fps` is the stream's average frame rate (`avg_frame_rate`); when the container has none, (frames - 1) / span;
  * `duration` is the end of the last frame: its start plus its packet duration (`1 / fps` when the container gives
    none), so a 40-frame video at 8 fps lasts 5.0 s (rounded like the timestamps).

Sampling (exactly one of `num_frames` / `fps`; neither means `num_frames=8`):
  * `num_frames=N` (uniform): frame `floor((i + 0.5) * total / N)` for i = 0..N-1, the centre of the i-th of N equal
    segments, computed in integers as `(2 * i + 1) * total // (2 * N)`. When the video has fewer than N frames, all
    of its `total` frames are returned (no frame is repeated) and a warning is logged;
  * `fps=r` (fixed rate): the times 0, 1/r, 2/r, ... < duration, each mapped to the last frame that starts at or
    before it (within float32 rounding), with repeated frames dropped (when r exceeds the native rate). At most
    `max_frames` frames (default `DEFAULT_MAX_FRAMES` = 256; `None`: no limit): beyond that a ValueError names the
    count, the duration and the cap before anything is decoded (an hour at 1 fps would be 3600 decoded frames).

Decoding: decord seeks by itself. PyAV decodes forward from the start, or, when the next wanted frame lies more than
a few frames past the keyframe before it, seeks to that keyframe first, so sparse sampling of a long video decodes
about one GOP per sampled frame instead of the whole stream (the frames are the same as a sequential decode's).

Errors: `VideoDecodeError` (a `ValueError`, defined in `video_check_sherlock.py` and re-exported here), one line
naming the source and the reason, for a missing path, a directory, an empty file, a text file, an image (PNG, JPEG,
GIF, BMP, WebP, ... by their magic bytes, also as bytes or a file object), other data that is not a video, a
truncated file (an ISO-BMFF box running past the end of the file, a missing `moov` index, fewer frames than the
container lists, requested frames that cannot be decoded), a video without a video stream or without frames, and
zero duration. The checks that need no decoder are `check_video_file` (standard library only: the command line runs
it before loading a model); `load_video` runs the same checks first, so the messages are the same. Bad arguments
raise `ValueError` / `TypeError`; a missing library raises `ImportError` saying what to install.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings; decord and av are imported inside the functions that use them.
"""

import hashlib
import io
import math
import numbers
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from transformers.utils import logging

from .video_check_sherlock import VideoDecodeError, check_video_bytes, check_video_file, stat_video_file


logger = logging.get_logger(__name__)

BACKENDS = ("auto", "decord", "pyav")
DEFAULT_NUM_FRAMES = 8
DEFAULT_MAX_FRAMES = 256
_HASH_CHUNK_BYTES = 1 << 20
_HASH_MEMO_SIZE = 4096  # file hashes remembered in-process, keyed by (real path, device, inode, size, mtime, ctime)
# "at or before" tolerance for fixed-rate sampling: frame times are float32 (decord's precision), so a frame that
# starts exactly at a sampling time may be stored a hair later; 1e-6 s plus one float32 ulp of the time absorbs that.
_TIME_TOL_ABS = 1e-6
_TIME_TOL_REL = 2.0**-23
_TIME_DECIMALS = 6  # timestamps and durations: at most 6 decimals (microseconds), float32 noise removed
_TIMES_PER_CHUNK = 1 << 20
# PyAV: seek to the keyframe before a wanted frame when that skips more than this many frames of sequential decoding
_SEEK_MIN_SKIP = 8


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


# ----------------------------------------------------------------------------------------------------------- helpers


def _library_reason(exc: BaseException) -> str:
    """A short reason from a decord / PyAV exception: its last line, without decord's "[time] file.cc:N:" prefix."""
    strerror = getattr(exc, "strerror", None)  # PyAV: the FFmpeg message without the file name
    if isinstance(strerror, str) and strerror:
        return strerror
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    text = re.sub(r"^\[[\d:]+\]\s*\S+:\d+:\s*", "", text)  # decord's "[12:00:00] src/file.cc:42: "
    failed_check = re.match(r"Check failed: .*\) (\D.*)$", text)  # decord's "Check failed: a >= b (1 vs. 2) why"
    return (failed_check.group(1) if failed_check else text)[:200] or type(exc).__name__


def _import_decord():
    try:
        import decord
    except ImportError as exc:
        raise ImportError("Decoding videos with backend='decord' needs decord: `pip install decord`.") from exc
    return decord


def _import_av():
    try:
        import av
    except ImportError as exc:
        raise ImportError("Decoding videos with backend='pyav' needs PyAV: `pip install av`.") from exc
    return av


def _check_arguments(num_frames, fps, backend, max_frames):
    """`(num_frames, fps, max_frames)` validated (num_frames=8 when neither num_frames nor fps is given)."""
    if max_frames is not None and (
        isinstance(max_frames, bool) or not isinstance(max_frames, numbers.Integral) or max_frames < 1
    ):
        raise ValueError(f"max_frames must be a positive integer or None (no limit), got {max_frames!r}.")
    if num_frames is not None and fps is not None:
        raise ValueError(f"Give either num_frames or fps, not both (got num_frames={num_frames}, fps={fps}).")
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps < math.inf:
            raise ValueError(f"fps must be a positive number of frames per second, got {fps!r}.")
        fps = float(fps)
    else:
        if num_frames is None:
            num_frames = DEFAULT_NUM_FRAMES
        if isinstance(num_frames, bool) or not isinstance(num_frames, numbers.Integral) or num_frames < 1:
            raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}.")
        num_frames = int(num_frames)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}.")
    return num_frames, fps, None if max_frames is None else int(max_frames)


def _is_array_input(video) -> bool:
    return isinstance(video, (np.ndarray, list, tuple)) or (
        hasattr(video, "__array__") and not isinstance(video, (str, bytes, bytearray, memoryview, os.PathLike))
    )


def _as_frame_array(video, source="<array>") -> np.ndarray:
    """(T, H, W, 3) uint8 from an array or a list of H x W x 3 frames (ValueError / VideoDecodeError otherwise)."""
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise VideoDecodeError(source, "no frames (an empty list: zero duration)")
        frames = [np.asarray(frame) for frame in video]
        shapes = {frame.shape for frame in frames}
        if len(shapes) != 1:
            raise ValueError(f"All frames of a frame list must have the same shape, got {sorted(shapes)}.")
        array = np.stack(frames)
    else:
        array = np.asarray(video)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"A video array must be (num_frames, height, width, 3) RGB, got shape {array.shape}.")
    if array.dtype != np.uint8:
        raise ValueError(f"A video array must be uint8 RGB, got dtype {array.dtype} (convert it first).")
    if array.shape[0] == 0:
        raise VideoDecodeError(source, "no frames (an empty array: zero duration)")
    if array.shape[1] == 0 or array.shape[2] == 0:
        raise VideoDecodeError(source, f"empty frames of shape {array.shape[1:]}")
    return array


def _resolve_source(video):
    """(source, path, data): a path to read from disk, or the bytes of an in-memory video."""
    if isinstance(video, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(video))
        return path, path, None
    if isinstance(video, (bytes, bytearray, memoryview)):
        return "<bytes>", None, bytes(video)
    if hasattr(video, "read"):
        data = video.read()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("A video file object must be opened in binary mode ('rb'); its read() returned text.")
        return "<file object>", None, bytes(data)
    raise TypeError(
        "video must be a path, a binary file object, bytes, a (T, H, W, 3) uint8 array or a list of frames; "
        f"got {type(video).__name__}."
    )


def _not_a_video_reason(exc, library="") -> str:
    """Why FFmpeg could not open the file, with the library's own message in parentheses (plain-text files never get
    here: `check_video_file` / `check_video_bytes` reject them before any decoder opens them)."""
    if library:
        return f"{library} cannot open it ({_library_reason(exc)})"
    return f"not a video FFmpeg can read ({_library_reason(exc)})"


# --------------------------------------------------------------------------------------------------------- timeline


def _decord_seconds(pts: np.ndarray, start_time: int, time_base) -> np.ndarray:
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
    for decimals in range(_TIME_DECIMALS + 1):  # the fewest decimals that still identify the float32
        if not todo.any():
            break
        candidate = np.round(values[todo], decimals)
        found = candidate.astype(np.float32) == exact[todo]
        where = np.flatnonzero(todo)[found]
        result[where] = candidate[found]
        todo[where] = False
    # the rest needs more than 6 decimals (times below 16 s): shortest decimal first, then the microsecond
    for i in np.flatnonzero(todo).tolist():
        result.flat[i] = round(float(str(exact.flat[i])), _TIME_DECIMALS)
    return result


def _timeline(source, starts, stops, avg_fps):
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
        duration = end if end > starts64[-1] else round(float(starts64[-1]) + 1.0 / fps, _TIME_DECIMALS)
    else:
        logger.debug("%s: no usable frame timestamps in the container, using index / fps", source)
        starts64 = np.round(np.arange(total, dtype=np.float64) / fps, _TIME_DECIMALS)
        duration = round(total / fps, _TIME_DECIMALS)
    if not (math.isfinite(duration) and duration > 0):
        raise VideoDecodeError(source, f"zero duration ({duration} s)")
    return starts64, duration, fps, usable


def _sample_indices(source, starts, duration, sampling, decode=True) -> np.ndarray:
    """Indices of the sampled frames (sorted, distinct int64); see the module docstring for the two rules.

    `sampling` is `(num_frames, fps, max_frames)` as checked by `_check_arguments`. Fixed-rate sampling that would give
    more than `max_frames` frames raises a ValueError before anything is decoded.
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


def _make_clip(frames, starts, duration, fps, indices, source, backend) -> VideoClip:
    return VideoClip(
        frames=np.ascontiguousarray(frames, dtype=np.uint8),
        timestamps=starts[indices].astype(np.float64),
        duration=float(duration),
        fps=float(fps),
        frame_indices=indices.astype(np.int64),
        source=source,
        backend=backend,
    )


# --------------------------------------------------------------------------------------------------------- backends


class _BackendFailure(Exception):
    """decord could not read the file (the reason is kept for the final VideoDecodeError)."""


def _no_frames(count: int) -> np.ndarray:
    """The `frames` of a probed (not decoded) clip: `count` frames of size 0 x 0."""
    return np.zeros((count, 0, 0, 3), dtype=np.uint8)


def _load_decord(decord, source, path, data, sampling, decode=True) -> VideoClip:
    try:
        reader = decord.VideoReader(path if data is None else io.BytesIO(data), ctx=decord.cpu(0), num_threads=0)
        total = len(reader)
        avg_fps = float(reader.get_avg_fps())
        times = np.asarray(reader.get_frame_timestamp(np.arange(total)), dtype=np.float32).reshape(total, 2)
    except Exception as exc:  # decord raises RuntimeError, DECORDError, AssertionError (0 frames), ...
        raise _BackendFailure(_not_a_video_reason(exc, library="decord")) from exc
    starts, duration, native_fps, _ = _timeline(source, times[:, 0], times[:, 1], avg_fps)
    indices = _sample_indices(source, starts, duration, sampling, decode)
    if not decode:
        del reader
        return _make_clip(_no_frames(len(indices)), starts, duration, native_fps, indices, source, "decord")
    try:
        batch = reader.get_batch(indices.tolist())
        frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)  # a bridge may return torch
    except Exception as exc:
        shown = ", ".join(map(str, indices[:5].tolist())) + (", ..." if len(indices) > 5 else "")
        raise _BackendFailure(f"frames {shown} could not be decoded (decord: {_library_reason(exc)})") from exc
    finally:
        del reader
    if frames.shape[0] != len(indices):
        raise _BackendFailure(f"decord returned {frames.shape[0]} frames for {len(indices)} indices")
    return _make_clip(frames, starts, duration, native_fps, indices, source, "decord")


def _load_pyav(av, source, path, data, sampling, decode=True) -> VideoClip:
    def open_container():
        return av.open(path if data is None else io.BytesIO(data), mode="r")

    # Pass 1: demux only (no decoding), like decord's index: every packet's pts / duration -> the frame timeline.
    try:
        container = open_container()
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(source, _not_a_video_reason(exc)) from exc
    with container:
        stream = container.streams.best("video")
        if stream is None:
            raise VideoDecodeError(source, "no video stream")
        listed = stream.frames or 0
        time_base, start_time, rate = stream.time_base, stream.start_time, stream.average_rate
        pts, durations, keyframe_pts = [], [], []
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.pts is None and packet.dts is None:
                    continue  # PyAV's end-of-stream flush packet, not a frame
                pts.append(packet.pts)
                durations.append(packet.duration or 0)
                if packet.is_keyframe and packet.pts is not None:
                    keyframe_pts.append(packet.pts)
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                source, f"unreadable data after frame {len(pts)} ({_library_reason(exc)}): corrupt or truncated"
            ) from exc
    total = len(pts)
    if total == 0:
        raise VideoDecodeError(source, "no frames (the video stream is empty)")
    if listed > total:
        raise VideoDecodeError(source, f"truncated (the container lists {listed} frames, only {total} are present)")
    avg_fps = float(rate) if rate else math.nan
    if start_time is None or time_base is None or any(p is None for p in pts):
        # no pts: decord's times would be garbage (AV_NOPTS_VALUE), both backends fall back to i / fps
        raw_starts = raw_stops = np.full(total, np.nan, dtype=np.float32)
        pts_to_index = None
    else:
        pts_array = np.asarray(pts, dtype=np.int64)
        order = np.argsort(pts_array, kind="stable")
        pts_array = pts_array[order]
        raw_starts = _decord_seconds(pts_array, start_time, time_base)
        raw_stops = _decord_seconds(pts_array + np.asarray(durations, dtype=np.int64)[order], start_time, time_base)
        pts_to_index = {int(p): i for i, p in enumerate(pts_array)}
    starts, duration, native_fps, from_pts = _timeline(source, raw_starts, raw_stops, avg_fps)
    if not from_pts:
        pts_to_index = None  # duplicate / odd pts: match decoded frames by their order instead
    indices = _sample_indices(source, starts, duration, sampling, decode)
    if not decode:
        return _make_clip(_no_frames(len(indices)), starts, duration, native_fps, indices, source, "pyav")

    # Pass 2: decode forward from the start, or from the keyframe before a wanted frame when that skips more than
    # _SEEK_MIN_SKIP frames (sparse sampling of a long video decodes a GOP per frame, not the whole stream); only the
    # wanted frames are converted to RGB. Frames are matched to indices by pts (robust to frames the decoder drops).
    frames = [None] * len(indices)
    slots = {int(index): slot for slot, index in enumerate(indices)}
    if pts_to_index is not None:  # seeking needs the pts to tell where the decoder is
        keyframes = np.unique([pts_to_index[int(p)] for p in keyframe_pts if int(p) in pts_to_index])
        plan = _seek_plan(indices, keyframes.astype(np.int64))
    else:
        plan = [(None, indices)]
    errors = 0
    with open_container() as container:
        stream = container.streams.best("video")
        stream.thread_type = "AUTO"
        for keyframe, wanted in plan:
            position, landing = 0, None
            if keyframe is not None:
                landing = int(pts_array[keyframe])
                try:
                    container.seek(landing, stream=stream, backward=True, any_frame=False)
                except av.error.FFmpegError as exc:
                    logger.debug("%s: seeking failed (%s); decoding from the start", source, _library_reason(exc))
                    break
                position = keyframe
            count, landed = _decode_into(
                av, container, stream, wanted, slots, frames, pts_to_index, position, landing, source
            )
            errors += count
            if not landed:
                logger.debug("%s: a seek did not land on a keyframe at or before frame %d", source, keyframe)
                break
    if any(frame is None for frame in frames) and any(keyframe is not None for keyframe, _ in plan):
        # a seek that landed past a wanted frame (or failed): decode the missing frames from the start
        missing = np.asarray([index for index, frame in zip(indices, frames) if frame is None], dtype=np.int64)
        logger.debug("%s: %d frames missed after seeking; decoding them from the start", source, len(missing))
        with open_container() as container:
            stream = container.streams.best("video")
            stream.thread_type = "AUTO"
            errors += _decode_into(av, container, stream, missing, slots, frames, pts_to_index, 0, None, source)[0]
    missing = [int(index) for index, frame in zip(indices, frames) if frame is None]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise VideoDecodeError(
            source,
            f"{len(missing)} of the {len(indices)} requested frames could not be decoded (frame {shown} of {total}; "
            f"{errors} decode errors): corrupt or truncated data",
        )
    return _make_clip(np.stack(frames), starts, duration, native_fps, indices, source, "pyav")


def _seek_plan(indices: np.ndarray, keyframes: np.ndarray) -> list:
    """PyAV's decode plan: `[(keyframe or None, wanted indices), ...]`, each run decoded forward from the keyframe it
    seeks to (None: from where the previous run stopped, or the start). A run starts at a keyframe when that skips
    more than `_SEEK_MIN_SKIP` frames that a sequential decode would go through."""
    plan, next_frame = [], 0  # next_frame: the first frame a sequential decode would give next
    for index in indices.tolist():
        before = int(np.searchsorted(keyframes, index, side="right")) - 1
        keyframe = int(keyframes[before]) if before >= 0 else None
        if keyframe is not None and keyframe - next_frame > _SEEK_MIN_SKIP:
            plan.append((keyframe, [index]))
        elif plan:
            plan[-1][1].append(index)
        else:
            plan.append((None, [index]))
        next_frame = index + 1
    return plan


def _decode_packet(packet) -> list:
    """Decode one packet (a module-level function: tests count the decoded frames through it)."""
    return packet.decode()


def _decode_into(av, container, stream, wanted, slots, frames, pts_to_index, position, landing, source):
    """Demux and decode from the container's current position until the last of `wanted` is out; put the frames whose
    index is in `slots` (RGB, upright) into `frames`. `position` is the index of the next frame (0 at the start, the
    keyframe after a seek); it is used when a frame's pts is unknown.

    `landing` is the pts of the keyframe just sought to (None when decoding from the start): unless the first packet
    is a keyframe at or before it, nothing is decoded (decoding from another packet could give damaged frames) and
    `(errors, False)` is returned. Returns `(number of decode errors, True)` otherwise. `source` names the video in
    debug messages.
    """
    last, errors, first = int(max(wanted)), 0, landing is not None
    try:
        for packet in container.demux(stream):
            if first:
                first = False
                if not (packet.is_keyframe and packet.pts is not None and packet.pts <= landing):
                    return errors, False
            try:
                decoded = _decode_packet(packet)
            except av.error.FFmpegError as exc:  # a corrupt packet: skip it, missing frames are reported later
                errors += 1
                logger.debug("%s: packet could not be decoded (%s)", source, _library_reason(exc))
                continue
            for frame in decoded:
                index = pts_to_index.get(frame.pts) if pts_to_index is not None else None
                index = position if index is None else index
                position = index + 1
                slot = slots.get(index)
                if slot is not None and frames[slot] is None:
                    rgb = frame.to_ndarray(format="rgb24")
                    quarter_turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
                    frames[slot] = np.rot90(rgb, quarter_turns) if quarter_turns else rgb
                if index >= last:
                    break
            if position > last:
                break
    except av.error.FFmpegError as exc:
        errors += 1
        logger.debug("%s: demuxing stopped (%s)", source, _library_reason(exc))
    return errors, True


def _load_array(video, sampling, array_fps, decode=True) -> VideoClip:
    if array_fps is None:
        raise ValueError("array_fps is required for a video given as an array or a list of frames (its frame rate).")
    if isinstance(array_fps, bool) or not isinstance(array_fps, numbers.Real) or not 0 < array_fps < math.inf:
        raise ValueError(f"array_fps must be a positive, finite frame rate, got {array_fps!r}.")
    source = "<array>"
    frames = _as_frame_array(video, source)
    total = frames.shape[0]
    starts = np.round(np.arange(total, dtype=np.float64) / float(array_fps), _TIME_DECIMALS)
    duration = round(total / float(array_fps), _TIME_DECIMALS)
    indices = _sample_indices(source, starts, duration, sampling, decode)
    return _make_clip(frames[indices], starts, duration, float(array_fps), indices, source, "array")


# ------------------------------------------------------------------------------------------------------------ public


def load_video(
    video, num_frames=None, fps=None, backend="auto", array_fps=None, decode=True, max_frames=DEFAULT_MAX_FRAMES
) -> VideoClip:
    """Decode a video and sample frames from it.

    Args:
        video: a path (str / os.PathLike), a binary file object or `bytes` (read into memory), a uint8 array
            (T, H, W, 3) RGB, or a list of H x W x 3 uint8 frames.
        num_frames: uniform sampling, frame `floor((i + 0.5) * total / num_frames)` for i < num_frames (the centres of
            num_frames equal segments). Fewer frames in the video: all of them, each once, with a warning.
        fps: fixed-rate sampling at times 0, 1/fps, 2/fps, ... < duration, each mapped to the last frame starting at
            or before it; repeated frames are dropped. Give num_frames or fps, not both; neither means num_frames=8.
        backend: "auto" (decord if importable, PyAV when decord is missing or cannot read the file), "decord" or
            "pyav". Ignored for arrays.
        array_fps: the frame rate of an array / list input (required there; duration = T / array_fps).
        decode: `False` probes the video without decoding any frame: the clip has the same timestamps, indices and
            duration as a decoded one, and `frames` of shape `(num_sampled, 0, 0, 3)` (PyAV reads only the packet
            headers for this; the processor uses it to look up the feature cache before decoding).
        max_frames (`int` or `None`, *optional*, defaults to `DEFAULT_MAX_FRAMES` = 256): the most frames that
            fixed-rate (`fps`) sampling may return. Frames are held decoded in memory (an hour at 1 fps is 3600
            frames, about 22 GB at 1920 x 1080), so a longer request raises a ValueError naming the count, the duration
            and the cap, before anything is decoded (also with `decode=False`, so a probe and the decode agree): lower
            `fps`, raise `max_frames`, or use `num_frames`. `None` removes the limit. Uniform sampling is not capped:
            `num_frames` is itself the count.

    Returns:
        A `VideoClip` (frames, timestamps in seconds, duration, native fps, frame indices, source, backend). The
        timestamp convention is in the module docstring: frame start times, identical for decord and PyAV.

    Raises:
        VideoDecodeError: the video is missing, a directory, empty, text, an image, not a video, truncated, has no
            frames or zero duration, or the requested frames cannot be decoded. The one-line message names the source
            and the reason; paths go through `check_video_file` first (the CLI's check: the same message).
        ValueError / TypeError: invalid arguments (both num_frames and fps, an array without array_fps, ...), or
            fixed-rate sampling beyond `max_frames`.
        ImportError: the backend's library is not installed (the message says what to `pip install`).
    """
    sampling = _check_arguments(num_frames, fps, backend, max_frames)
    if _is_array_input(video):
        return _load_array(video, sampling, array_fps, decode)
    source, path, data = _resolve_source(video)
    if path is not None:
        check_video_file(path)  # missing, directory, empty, text, image, truncated mp4: before any decoder
    else:
        check_video_bytes(data, source)

    decord_failure = None
    if backend in ("auto", "decord"):
        try:
            decord = _import_decord()
        except ImportError:
            if backend == "decord":
                raise
            decord = None
        if decord is not None:
            try:
                return _load_decord(decord, source, path, data, sampling, decode)
            except (_BackendFailure, VideoDecodeError) as exc:
                reason = exc.reason if isinstance(exc, VideoDecodeError) else str(exc)
                if backend == "decord":
                    if isinstance(exc, VideoDecodeError):
                        raise
                    raise VideoDecodeError(source, reason) from exc
                decord_failure = reason
                logger.debug("decord could not read %s (%s); trying PyAV", source, reason)
    try:
        av = _import_av()
    except ImportError as exc:
        if decord_failure is not None:
            raise VideoDecodeError(source, f"{decord_failure}; PyAV, the fallback, is not installed") from exc
        if backend == "auto":
            raise ImportError(
                "Decoding videos needs decord or PyAV: `pip install decord` (or `pip install av`)."
            ) from exc
        raise
    return _load_pyav(av, source, path, data, sampling, decode)


_hash_memo: "OrderedDict[tuple, str]" = OrderedDict()
_hash_memo_lock = threading.Lock()


def _file_signature(path: str, info: os.stat_result) -> tuple:
    """What identifies a file's content without reading it: where it is and its size, inode and change times."""
    return (os.path.realpath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _hash_file(path: str) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def video_content_hash(video, array_fps=None) -> str:
    """SHA-256 (hex) identifying a video's content: the feature-cache key used by the processor.

    For a path, a binary file object or `bytes`: the hash of the file bytes, read in 1 MiB chunks (the same file
    gives the same hash whatever its name or however it is passed). A file object is read from its current position
    to the end and put back where it was when it is seekable. For an array or a list of frames: the hash of the
    frame bytes together with the shape, the dtype and `array_fps`.

    The hash of a path is remembered in-process (the last 4096 files), keyed by the file's real path, device, inode,
    size, modification and status-change times (`st_mtime_ns`, `st_ctime_ns`): asking again for an unchanged file
    only stats it, while a file rewritten, touched or replaced is read again. (A file changed in place that keeps its
    size and both times, which needs a clock reset, would keep its old hash.)

    Raises `VideoDecodeError` for a missing path or a directory.
    """
    if _is_array_input(video):
        frames = _as_frame_array(video)
        digest = hashlib.sha256()
        header = f"sherlock-video-array shape={frames.shape} dtype={frames.dtype.str} fps={array_fps!r}\n"
        digest.update(header.encode("utf-8"))
        digest.update(np.ascontiguousarray(frames).data)
        return digest.hexdigest()
    if isinstance(video, (str, os.PathLike)):
        path = os.fsdecode(os.fspath(video))
        signature = _file_signature(path, stat_video_file(path))  # "no such file", "is a directory, ..."
        with _hash_memo_lock:
            known = _hash_memo.get(signature)
            if known is not None:
                _hash_memo.move_to_end(signature)
                return known
        try:
            value = _hash_file(path)
            unchanged = _file_signature(path, os.stat(path)) == signature
        except FileNotFoundError as exc:
            raise VideoDecodeError(path, "no such file") from exc
        except OSError as exc:
            raise VideoDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from exc
        if unchanged:  # not written to while it was read
            with _hash_memo_lock:
                _hash_memo[signature] = value
                while len(_hash_memo) > _HASH_MEMO_SIZE:
                    _hash_memo.popitem(last=False)
        return value
    digest = hashlib.sha256()
    if isinstance(video, (bytes, bytearray, memoryview)):
        digest.update(video)
        return digest.hexdigest()
    if hasattr(video, "read"):
        start = video.tell() if getattr(video, "seekable", lambda: False)() else None
        for chunk in iter(lambda: video.read(_HASH_CHUNK_BYTES), b""):
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError("A video file object must be opened in binary mode ('rb').")
            digest.update(chunk)
        if start is not None:
            video.seek(start)
        return digest.hexdigest()
    raise TypeError(f"Cannot hash a video given as {type(video).__name__}.")


__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_NUM_FRAMES",
    "VideoClip",
    "VideoDecodeError",
    "check_video_file",
    "load_video",
    "round_seconds",
    "video_content_hash",
]
