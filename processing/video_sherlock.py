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

Modules: this one is the public entry point (`load_video`, `video_content_hash`, `VideoClip`, `round_seconds`), with
the argument and input handling and the content hash; the timeline and the sampling rules are in
`video_sampling_sherlock.py`, the decord and PyAV backends (PyAV's seeking included) in `video_backends_sherlock.py`,
and the checks that need no decoder in `video_check_sherlock.py`. All of them log through this module's `logger`.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings; decord and av are imported inside the functions that use them.
"""

import hashlib
import math
import numbers
import os
import threading
from collections import OrderedDict

import numpy as np
from transformers.utils import logging

from .video_backends_sherlock import BackendFailure, import_av, import_decord, load_decord, load_pyav
from .video_check_sherlock import VideoDecodeError, check_video_bytes, check_video_file, stat_video_file
from .video_sampling_sherlock import TIME_DECIMALS, VideoClip, make_clip, round_seconds, sample_indices


logger = logging.get_logger(__name__)

BACKENDS = ("auto", "decord", "pyav")
DEFAULT_NUM_FRAMES = 8
DEFAULT_MAX_FRAMES = 256
_HASH_CHUNK_BYTES = 1 << 20
_HASH_MEMO_SIZE = 4096  # file hashes remembered in-process, keyed by (real path, device, inode, size, mtime, ctime)


# ----------------------------------------------------------------------------------------------------------- helpers


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


def _decode_packet(packet) -> list:
    """Decode one PyAV packet: the hook `load_video` hands to the PyAV backend (a module-level function here, so tests
    and benchmarks/benchmark_video_io.py count the decoded frames by replacing `video_sherlock._decode_packet`)."""
    return packet.decode()


def _load_array(video, sampling, array_fps, decode=True) -> VideoClip:
    if array_fps is None:
        raise ValueError("array_fps is required for a video given as an array or a list of frames (its frame rate).")
    if isinstance(array_fps, bool) or not isinstance(array_fps, numbers.Real) or not 0 < array_fps < math.inf:
        raise ValueError(f"array_fps must be a positive, finite frame rate, got {array_fps!r}.")
    source = "<array>"
    frames = _as_frame_array(video, source)
    total = frames.shape[0]
    starts = np.round(np.arange(total, dtype=np.float64) / float(array_fps), TIME_DECIMALS)
    duration = round(total / float(array_fps), TIME_DECIMALS)
    indices = sample_indices(source, starts, duration, sampling, decode)
    return make_clip(frames[indices], starts, duration, float(array_fps), indices, source, "array")


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
            decord = import_decord()
        except ImportError:
            if backend == "decord":
                raise
            decord = None
        if decord is not None:
            try:
                return load_decord(decord, source, path, data, sampling, decode)
            except (BackendFailure, VideoDecodeError) as exc:
                reason = exc.reason if isinstance(exc, VideoDecodeError) else str(exc)
                if backend == "decord":
                    if isinstance(exc, VideoDecodeError):
                        raise
                    raise VideoDecodeError(source, reason) from exc
                decord_failure = reason
                logger.debug("decord could not read %s (%s); trying PyAV", source, reason)
    try:
        av = import_av()
    except ImportError as exc:
        if decord_failure is not None:
            raise VideoDecodeError(source, f"{decord_failure}; PyAV, the fallback, is not installed") from exc
        if backend == "auto":
            raise ImportError(
                "Decoding videos needs decord or PyAV: `pip install decord` (or `pip install av`)."
            ) from exc
        raise
    return load_pyav(av, source, path, data, sampling, decode, decode_packet=_decode_packet)


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
