"""The project's one mp4 writer (`sherlock.video_writer.write_mp4`): what it writes decodes with the project's own
decoder (`processing.load_video`) to the same frame count, size and rate; stage 1 and the synthetic builder both
write through it (no other `add_stream` in the code); bad input is one clear error and leaves no file behind."""

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from processing import load_video
from sherlock.video_writer import X264_CRF, available_codec, write_mp4


ROOT = Path(__file__).resolve().parents[1]


def moving_frames(count: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Frames with a bright square moving right one step per frame on a gradient."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 80)], axis=-1).astype(np.uint8)
    frames = []
    for index in range(count):
        frame = base.copy()
        frame[10:26, 2 + 3 * index : 18 + 3 * index] = (250, 250, 250)
        frames.append(frame)
    return frames


@pytest.mark.parametrize(
    ("codec", "fps", "count", "options"),
    [
        ("libx264", 8, 12, None),
        ("libx264", Fraction(30000, 1001), 15, None),
        ("libx264", 30000 / 1001, 9, X264_CRF),
        ("mpeg4", 10.0, 10, None),
    ],
)
def test_written_video_decodes_to_the_same_frames_size_and_rate(tmp_path, codec, fps, count, options):
    codec = available_codec(codec)
    frames = moving_frames(count)
    path = write_mp4(iter(frames), tmp_path / "sub" / "clip.mp4", fps, codec, x264_options=options)
    assert path == tmp_path / "sub" / "clip.mp4" and sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]
    clip = load_video(path, num_frames=1000)  # fewer frames than asked: every frame, once
    assert clip.frames.shape == (count, 48, 64, 3)
    assert clip.fps == pytest.approx(float(fps), rel=1e-4)
    assert clip.duration == pytest.approx(count / float(fps), rel=1e-3)
    np.testing.assert_allclose(clip.timestamps, np.arange(count) / float(fps), atol=1e-3)
    error = np.abs(clip.frames.astype(int) - np.stack(frames).astype(int)).mean(axis=(1, 2, 3))
    assert (error < 8).all()  # each frame is its own frame (through yuv420p and the codec)


def test_a_static_clip_decodes_identical_frames_and_the_bytes_are_deterministic(tmp_path):
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)  # the hardest case to encode
    first = write_mp4([frame] * 8, tmp_path / "a.mp4", 4, available_codec("libx264"))
    again = write_mp4([frame] * 8, tmp_path / "b.mp4", 4, available_codec("libx264"))
    assert first.read_bytes() == again.read_bytes()
    decoded = load_video(first, num_frames=1000).frames
    assert len(decoded) == 8
    if available_codec("libx264") == "libx264":
        assert all(np.array_equal(image, decoded[0]) for image in decoded)


@pytest.mark.parametrize(
    ("frames", "fps", "codec", "message"),
    [
        ([], 8, "libx264", "no frames to write"),
        ([np.zeros((48, 64, 3), np.float32)], 8, "libx264", r"frame 0 is float32 \(48, 64, 3\), expected RGB uint8"),
        ([np.zeros((47, 64, 3), np.uint8)], 8, "libx264", "yuv420p needs even sides"),
        ([np.zeros((48, 64, 3), np.uint8), np.zeros((32, 64, 3), np.uint8)], 8, "libx264", "frame 1 has shape"),
        ([np.zeros((48, 64, 3), np.uint8)], 0, "libx264", "fps must be a positive finite number"),
        ([np.zeros((48, 64, 3), np.uint8)], float("nan"), "libx264", "fps must be a positive finite number"),
        ([np.zeros((48, 64, 3), np.uint8)], 8, "vp9", "unknown mp4 codec 'vp9'"),
    ],
)
def test_bad_input_is_one_clear_error_and_leaves_no_file(tmp_path, frames, fps, codec, message):
    with pytest.raises(ValueError, match=message) as raised:
        write_mp4(frames, tmp_path / "bad.mp4", fps, codec)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # neither the mp4 nor a temporary file


def test_an_interrupted_write_leaves_no_file(tmp_path):
    def frames():
        yield from moving_frames(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_mp4(frames(), tmp_path / "clip.mp4", 8)
    assert list(tmp_path.iterdir()) == []


def test_stage1_and_the_synthetic_builder_write_through_the_one_writer():
    """No module but `sherlock/video_writer.py` opens an encoder stream."""
    writers = sorted(
        path.relative_to(ROOT).as_posix()
        for folder in ("sherlock", "dataset_scripts", "processing", "spaces_demo")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\.add_stream\(", path.read_text(encoding="utf-8"))
    )
    assert writers == ["sherlock/video_writer.py"]
