"""The one mp4 writer of the project: stage-1 clips (`sherlock.training.stage1`) and the synthetic M-VAE videos
(`dataset_scripts.synthetic_build`) are both encoded by `write_mp4`.

    write_mp4(frames, "clip.mp4", fps=8)                                      # constant quantisers (the default)
    write_mp4(frames, "clip.mp4", fps=8, x264_options=X264_CRF, bit_rate=400_000)

RGB uint8 frames `(height, width, 3)` with even sides become H.264 (libx264) or MPEG-4 Part 2 (mpeg4) in yuv420p,
at the frame rate `fps` (a float such as 30000/1001 is kept as the nearest fraction with a denominator up to 1001).
The encoder runs on one thread with the `ultrafast` preset, so the bytes depend only on the frames, the settings and
the encoder version. The file is written to a temporary name beside `path` and renamed, so an interrupted write (an
error in the frame iterator included) leaves neither `path` nor a temporary file.

The x264 settings:

- `X264_CONSTANT_QP` (default): P frames at qp 18, I frames twice as fine (`ipratio=2`). A frame that repeats its
  predecessor then leaves a residual (the I frame's quantisation error) below half a P step, coded as nothing: the
  frames of a static clip decode identical (a rate-controlled CRF encode, or equal I and P quantisers, keep refining
  them by a few levels instead), at about a sixth of the size of an all-intra encode.
- `X264_CRF`: constant rate factor 20 (the synthetic set's videos).

mpeg4 (when FFmpeg lacks libx264; `available_codec` picks it) is rate-controlled at `bit_rate`; its repeated frames
decode only nearly identical.
"""

import os
import tempfile
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np


CODECS = ("libx264", "mpeg4")
X264_CONSTANT_QP = {"preset": "ultrafast", "qp": "18", "threads": "1", "x264-params": "ipratio=2.0"}
X264_CRF = {"preset": "ultrafast", "crf": "20", "threads": "1"}
MPEG4_BIT_RATE = 2_000_000


def available_codec(codec: str = "libx264") -> str:
    """`codec` when PyAV's FFmpeg can encode it, else mpeg4 (FFmpeg's own encoder, always there)."""
    import av

    if codec not in CODECS:
        raise ValueError(f"unknown mp4 codec {codec!r}: use one of {', '.join(CODECS)}")
    return codec if codec in av.codecs_available else "mpeg4"


def _check_frame(frame, index: int, shape: tuple | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {index} is {frame.dtype} {frame.shape}, expected RGB uint8 (height, width, 3)")
    if shape is None and (frame.shape[0] % 2 or frame.shape[1] % 2 or min(frame.shape[:2]) < 2):
        raise ValueError(f"frame {index} is {frame.shape[1]} x {frame.shape[0]}: yuv420p needs even sides")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"frame {index} has shape {frame.shape}, the first frame {shape}")
    return np.ascontiguousarray(frame)


def write_mp4(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float,
    codec: str = "libx264",
    x264_options: Mapping[str, str] | None = None,
    bit_rate: int = MPEG4_BIT_RATE,
) -> Path:
    """Encode RGB uint8 frames (all the same size, even sides) as an mp4 at `fps` (module docstring).

    Args:
        frames: the frames, `(height, width, 3)` uint8 each (any iterable: they are encoded as they come).
        path: the mp4 to write (its folder is created); written to a temporary name and renamed.
        fps: frame rate, > 0.
        codec: "libx264" or "mpeg4" (`available_codec` picks one that FFmpeg has).
        x264_options: libx264's options (default `X264_CONSTANT_QP`).
        bit_rate: mpeg4's bit rate in bits per second.

    Returns:
        `Path(path)`. Raises `ValueError` (one line) for no frames, a bad frame, a bad rate or an unknown codec.
    """
    import av

    if codec not in CODECS:
        raise ValueError(f"unknown mp4 codec {codec!r}: use one of {', '.join(CODECS)}")
    if codec not in av.codecs_available:
        raise ValueError(f"PyAV's FFmpeg cannot encode {codec}: use available_codec() to pick one it has")
    try:
        rate = Fraction(float(fps)).limit_denominator(1001)
    except (TypeError, ValueError, OverflowError):
        rate = Fraction(0)
    if rate <= 0:
        raise ValueError(f"fps must be a positive finite number, got {fps!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream, shape = None, None
            for index, frame in enumerate(frames):
                frame = _check_frame(frame, index, shape)
                if stream is None:
                    shape = frame.shape
                    stream = container.add_stream(codec, rate=rate)
                    stream.height, stream.width = shape[:2]
                    stream.pix_fmt = "yuv420p"
                    if codec == "libx264":
                        stream.options = dict(X264_CONSTANT_QP if x264_options is None else x264_options)
                    else:
                        stream.bit_rate, stream.thread_count = int(bit_rate), 1
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if stream is None:
                raise ValueError(f"no frames to write to {path}")
            container.mux(stream.encode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


__all__ = ["CODECS", "MPEG4_BIT_RATE", "X264_CONSTANT_QP", "X264_CRF", "available_codec", "write_mp4"]
