# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Small synthetic videos made on the spot with PyAV, for the video IO, processor and CLI tests (nothing is
downloaded and no video file is checked in).

    write_video(path, num_frames=16, fps=8.0, size=(64, 48))   a valid mp4 whose frames encode their own index
    write_video(path, num_frames=300, fps=30, gop=10)           ... with a keyframe at least every 10 frames
    keyframe_indices(path)                                     presentation indices of the keyframes of a video
    frame_index_of(frame)                                      reads that index back from a decoded RGB frame
    make_truncated(path)                                       the first 30 % of the bytes of a valid mp4
    make_truncated(path, fraction=0.6, faststart=True)         header intact, the tail (frame data) cut off
    make_text_as_mp4(path)                                     a text file named .mp4
    make_empty(path)                                           a 0-byte file
    make_zero_frame_video(path)                                an mp4 (fragmented) with a video stream and no frame

Pattern "frame-index" (default): the frame is a 4 x 3 grid of cells, cell k (row-major) is white when bit k of the
frame index is set and black otherwise, so 12 bits (indices 0..4095) survive any codec's noise: `frame_index_of`
thresholds the mean of each cell's central half. Cells must be at least 8 x 8 pixels (size >= (32, 24)).
Pattern "texture": the same code at +-80 around mid-gray, over a moving sinusoidal texture and moving fine grain,
so that the encoded stream has a realistic bitrate (for benchmarks); `frame_index_of` still reads it.

Codec: "libx264" when PyAV's FFmpeg has it (B-frames, so decode order != presentation order), else "mpeg4";
yuv420p, so width and height must be even. `fps` may be non-integer: a float (29.97 is stored as 2997/100) or a
Fraction (Fraction(30000, 1001)). `index_frame(i, size, pattern)` gives the exact RGB frame written for index i.
"""

import functools
from fractions import Fraction
from pathlib import Path

import numpy as np


GRID_COLS, GRID_ROWS = 4, 3
MAX_INDEX = 2 ** (GRID_COLS * GRID_ROWS) - 1


def default_codec() -> str:
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def _cell_slices(height: int, width: int):
    cell_h, cell_w = height // GRID_ROWS, width // GRID_COLS
    for k in range(GRID_COLS * GRID_ROWS):
        row, col = divmod(k, GRID_COLS)
        yield k, slice(row * cell_h, (row + 1) * cell_h), slice(col * cell_w, (col + 1) * cell_w)


@functools.lru_cache(maxsize=4)
def _grain(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(0).normal(0.0, 6.0, size=(height, width)).astype(np.float32)


def index_frame(index: int, size=(64, 48), pattern: str = "frame-index") -> np.ndarray:
    """The RGB uint8 frame (height, width, 3) that `write_video` writes for frame `index`."""
    width, height = size
    if not 0 <= index <= MAX_INDEX:
        raise ValueError(f"frame index {index} does not fit the {GRID_COLS}x{GRID_ROWS}-bit code")
    bits = np.zeros((height, width), dtype=np.float32)
    for k, rows, cols in _cell_slices(height, width):
        bits[rows, cols] = (index >> k) & 1
    if pattern == "frame-index":
        gray = bits * 255.0
    elif pattern == "texture":
        x, y = np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
        texture = 30.0 * np.outer(np.cos((y - 2.0 * index) / 13.0), np.sin((x + 3.0 * index) / 9.0))
        grain = np.roll(_grain(height, width), (2 * index, 3 * index), axis=(0, 1))  # fine detail that moves
        gray = 128.0 + (bits * 2.0 - 1.0) * 80.0 + texture + grain
    else:
        raise ValueError(f"unknown pattern {pattern!r}: use 'frame-index' or 'texture'")
    return np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def frame_index_of(frame: np.ndarray) -> int:
    """The index encoded in a decoded RGB frame (height, width, 3) written by `write_video`."""
    gray = np.asarray(frame, dtype=np.float32).mean(axis=-1)
    index = 0
    for k, rows, cols in _cell_slices(*gray.shape):
        cell = gray[rows, cols]
        h, w = cell.shape
        if cell[h // 4 : h - h // 4, w // 4 : w - w // 4].mean() > 128.0:
            index |= 1 << k
    return index


def write_video(
    path,
    num_frames: int = 16,
    fps: float = 8.0,
    size=(64, 48),
    codec: str | None = None,
    pattern: str = "frame-index",
    faststart: bool = False,
    codec_options: dict | None = None,
    rotation: int = 0,
    gop: int | None = None,
    container_format: str = "mp4",
):
    """Write an mp4 of `num_frames` frames at `fps` whose frame i encodes i (see the module docstring).

    `size` is (width, height), both even. `faststart=True` puts the index (moov atom) before the frame data, as
    streaming encoders do. `codec_options` go to the encoder (libx264 defaults to {"preset": "veryfast"}; e.g.
    {"crf": "18"} for a higher bitrate). `rotation` (degrees, counter-clockwise) is stored as the stream's display
    matrix, as phones do: players (and `load_video`) turn the frames upright. `gop` is the largest distance between
    keyframes (the encoder's default when None: 250 frames for libx264, 12 for mpeg4); a small one gives a video with
    many keyframes, to test seeking (libx264 may add more at scene cuts). `container_format` is FFmpeg's muxer name:
    "mp4" (default), or e.g. "mpegts" (no index: seeking there is by timestamp search, imprecise). Returns the path.
    """
    import av

    path = Path(path)
    width, height = size
    rate = Fraction(fps).limit_denominator(1001)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", format=container_format, options=options) as container:
        stream = container.add_stream(codec or default_codec(), rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        defaults = {"preset": "veryfast"} if stream.codec_context.name == "libx264" else {}
        stream.options = {**defaults, **(codec_options or {})}
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(index_frame(i, size, pattern), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def keyframe_indices(path) -> list[int]:
    """Presentation-order indices of the frames whose packets are keyframes (read by demuxing with PyAV)."""
    import av

    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    order = sorted(range(len(packets)), key=lambda i: packets[i].pts)
    return sorted(rank for rank, i in enumerate(order) if packets[i].is_keyframe)


def make_truncated(path, fraction: float = 0.3, faststart: bool = False, **video_kwargs):
    """A valid mp4 (see `write_video`) cut down to its first `fraction` of bytes.

    With the default layout the index (moov atom) is written last, so it is lost and nothing can be opened. With
    `faststart=True` the index survives and lists frames whose data is missing. Returns the path.
    """
    path = Path(path)
    write_video(path, faststart=faststart, **video_kwargs)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def make_text_as_mp4(path):
    """A plain text file with an .mp4 name. Returns the path."""
    path = Path(path)
    path.write_text("This is not a video, only text with an .mp4 name.\n" * 20)
    return path


def make_empty(path):
    """A 0-byte file. Returns the path."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def make_zero_frame_video(path, codec: str = "mpeg4", size=(64, 48), fps: float = 8.0):
    """An mp4 with one video stream and no frame at all. Returns the path.

    A plain mp4 cannot hold that: FFmpeg's mp4 muxer drops a track without samples, so the file would have no video
    stream at all. A fragmented mp4 (`movflags=frag_keyframe+empty_moov`) writes its `moov` (with the video track)
    up front and the frames in later fragments; closing it before the first frame leaves the track empty.
    """
    import av

    path = Path(path)
    options = {"movflags": "frag_keyframe+empty_moov"}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        container.start_encoding()  # writes the header; nothing is muxed
    return path
