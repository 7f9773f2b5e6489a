# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The two decoding backends behind `video_sherlock.load_video`: decord and PyAV.

`load_decord` takes the frame times from decord's index and lets decord seek and decode. `load_pyav` demuxes the
packets once without decoding them, which gives the same timeline as decord's bit for bit (`decord_seconds`), then
decodes forward from the start, or seeks first to the keyframe before a wanted frame when that skips more than
`_SEEK_MIN_SKIP` frames (`_seek_plan`): sparse sampling of a long video decodes about one GOP per sampled frame, with
the frames of a sequential decode. Frames a seek missed are decoded again from the start. Both build their
`VideoClip` with `video_sampling_sherlock.py` and raise `VideoDecodeError`; decord's failures are `BackendFailure`,
on which `load_video` falls back to PyAV (backend="auto") or raises a `VideoDecodeError`.

This file ships to the Hub as remote code: standard library, numpy, transformers and single-dot siblings at module
level; decord and av are imported inside `import_decord` / `import_av`, and the backends get the imported library
as an argument.
"""

import io
import math
import re

import numpy as np
from transformers.utils import logging

from .video_check_sherlock import VideoDecodeError
from .video_sampling_sherlock import VideoClip, decord_seconds, frame_timeline, make_clip, sample_indices


# one logger for all of video IO, `video_sherlock`'s (the name to configure), whichever module logs
logger = logging.get_logger(__name__.rpartition(".")[0] + ".video_sherlock")

# PyAV: seek to the keyframe before a wanted frame when that skips more than this many frames of sequential decoding
_SEEK_MIN_SKIP = 8


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


def import_decord():
    try:
        import decord
    except ImportError as exc:
        raise ImportError("Decoding videos with backend='decord' needs decord: `pip install decord`.") from exc
    return decord


def import_av():
    try:
        import av
    except ImportError as exc:
        raise ImportError("Decoding videos with backend='pyav' needs PyAV: `pip install av`.") from exc
    return av


def _not_a_video_reason(exc, library="") -> str:
    """Why FFmpeg could not open the file, with the library's own message in parentheses (plain-text files never get
    here: `check_video_file` / `check_video_bytes` reject them before any decoder opens them)."""
    if library:
        return f"{library} cannot open it ({_library_reason(exc)})"
    return f"not a video FFmpeg can read ({_library_reason(exc)})"


# --------------------------------------------------------------------------------------------------------- backends


class BackendFailure(Exception):
    """decord could not read the file (the reason is kept for the final VideoDecodeError)."""


def _no_frames(count: int) -> np.ndarray:
    """The `frames` of a probed (not decoded) clip: `count` frames of size 0 x 0."""
    return np.zeros((count, 0, 0, 3), dtype=np.uint8)


def load_decord(decord, source, path, data, sampling, decode=True) -> VideoClip:
    try:
        reader = decord.VideoReader(path if data is None else io.BytesIO(data), ctx=decord.cpu(0), num_threads=0)
        total = len(reader)
        avg_fps = float(reader.get_avg_fps())
        times = np.asarray(reader.get_frame_timestamp(np.arange(total)), dtype=np.float32).reshape(total, 2)
    except Exception as exc:  # decord raises RuntimeError, DECORDError, AssertionError (0 frames), ...
        raise BackendFailure(_not_a_video_reason(exc, library="decord")) from exc
    starts, duration, native_fps, _ = frame_timeline(source, times[:, 0], times[:, 1], avg_fps)
    indices = sample_indices(source, starts, duration, sampling, decode)
    if not decode:
        del reader
        return make_clip(_no_frames(len(indices)), starts, duration, native_fps, indices, source, "decord")
    try:
        batch = reader.get_batch(indices.tolist())
        frames = batch.asnumpy() if hasattr(batch, "asnumpy") else np.asarray(batch)  # a bridge may return torch
    except Exception as exc:
        shown = ", ".join(map(str, indices[:5].tolist())) + (", ..." if len(indices) > 5 else "")
        raise BackendFailure(f"frames {shown} could not be decoded (decord: {_library_reason(exc)})") from exc
    finally:
        del reader
    if frames.shape[0] != len(indices):
        raise BackendFailure(f"decord returned {frames.shape[0]} frames for {len(indices)} indices")
    return make_clip(frames, starts, duration, native_fps, indices, source, "decord")


def load_pyav(av, source, path, data, sampling, decode=True, *, decode_packet) -> VideoClip:
    """PyAV's clip; `decode_packet(packet) -> frames` decodes one packet (`video_sherlock._decode_packet`, the hook
    through which tests and benchmarks count the decoded frames)."""

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
        raw_starts = decord_seconds(pts_array, start_time, time_base)
        raw_stops = decord_seconds(pts_array + np.asarray(durations, dtype=np.int64)[order], start_time, time_base)
        pts_to_index = {int(p): i for i, p in enumerate(pts_array)}
    starts, duration, native_fps, from_pts = frame_timeline(source, raw_starts, raw_stops, avg_fps)
    if not from_pts:
        pts_to_index = None  # duplicate / odd pts: match decoded frames by their order instead
    indices = sample_indices(source, starts, duration, sampling, decode)
    if not decode:
        return make_clip(_no_frames(len(indices)), starts, duration, native_fps, indices, source, "pyav")

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
                av, container, stream, wanted, slots, frames, pts_to_index, position, landing, source, decode_packet
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
            errors += _decode_into(
                av, container, stream, missing, slots, frames, pts_to_index, 0, None, source, decode_packet
            )[0]
    missing = [int(index) for index, frame in zip(indices, frames) if frame is None]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise VideoDecodeError(
            source,
            f"{len(missing)} of the {len(indices)} requested frames could not be decoded (frame {shown} of {total}; "
            f"{errors} decode errors): corrupt or truncated data",
        )
    return make_clip(np.stack(frames), starts, duration, native_fps, indices, source, "pyav")


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


def _decode_into(av, container, stream, wanted, slots, frames, pts_to_index, position, landing, source, decode_packet):
    """Demux and decode from the container's current position until the last of `wanted` is out; put the frames whose
    index is in `slots` (RGB, upright) into `frames`. `position` is the index of the next frame (0 at the start, the
    keyframe after a seek); it is used when a frame's pts is unknown.

    `landing` is the pts of the keyframe just sought to (None when decoding from the start): unless the first packet
    is a keyframe at or before it, nothing is decoded (decoding from another packet could give damaged frames) and
    `(errors, False)` is returned. Returns `(number of decode errors, True)` otherwise. `source` names the video in
    debug messages; `decode_packet(packet)` decodes one packet.
    """
    last, errors, first = int(max(wanted)), 0, landing is not None
    try:
        for packet in container.demux(stream):
            if first:
                first = False
                if not (packet.is_keyframe and packet.pts is not None and packet.pts <= landing):
                    return errors, False
            try:
                decoded = decode_packet(packet)
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


__all__ = ["BackendFailure", "import_av", "import_decord", "load_decord", "load_pyav"]
