"""Video IO (processing/video_sherlock.py): sampling, timestamps, decord / PyAV agreement, inputs and bad videos.

Longer videos, PyAV's seeking, the frame cap of fixed-rate sampling and the benchmark are in test_video_long.py.
Every video is written on the spot by tests/video_factory.py; each frame encodes its own index in its pixels.
"""

import ast
import builtins
import hashlib
import io
import logging
import math
import os
import pickle
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from processing import video_backends_sherlock, video_check_sherlock, video_sampling_sherlock, video_sherlock
from processing.video_check_sherlock import check_video_file
from processing.video_sherlock import VideoClip, VideoDecodeError, load_video, video_content_hash

import video_factory as vf


decord = pytest.importorskip("decord")
av = pytest.importorskip("av")

BACKENDS = ("decord", "pyav")
NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Three small valid videos: libx264 (B-frames) at 8 fps, mpeg4 at 29.97 fps (30000/1001), libx264 at 30 fps."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "x264_8fps": (vf.write_video(folder / "x264_8fps.mp4", num_frames=40, fps=8), 40, 8.0),
        "mpeg4_ntsc": (
            vf.write_video(folder / "mpeg4_ntsc.mp4", num_frames=45, fps=NTSC, codec="mpeg4"),
            45,
            30000 / 1001,
        ),
        "x264_30fps": (vf.write_video(folder / "x264_30fps.mp4", num_frames=36, fps=30), 36, 30.0),
    }


def decoded_indices(clip):
    return [vf.frame_index_of(frame) for frame in clip.frames]


def decord_start_times(path, indices):
    reader = decord.VideoReader(str(path))
    return np.asarray(reader.get_frame_timestamp(np.asarray(indices))[:, 0], dtype=np.float64)


# ----------------------------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["x264_8fps", "mpeg4_ntsc"])
@pytest.mark.parametrize("num_frames", [1, 8, 13])
def test_uniform_sampling_takes_segment_centres(videos, name, backend, num_frames):
    path, total, native_fps = videos[name]
    clip = load_video(path, num_frames=num_frames, backend=backend)
    expected = [math.floor((i + 0.5) * total / num_frames) for i in range(num_frames)]
    assert isinstance(clip, VideoClip) and clip.backend == backend and clip.source == str(path)
    assert clip.frame_indices.dtype == np.int64 and clip.frame_indices.tolist() == expected
    assert decoded_indices(clip) == expected  # the pixels are those of the chosen frames
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (num_frames, 48, 64, 3)
    assert clip.timestamps.dtype == np.float64
    np.testing.assert_allclose(clip.timestamps, decord_start_times(path, expected), rtol=0, atol=1e-6)
    np.testing.assert_allclose(clip.timestamps, np.asarray(expected) / native_fps, rtol=0, atol=1e-6)
    assert clip.fps == pytest.approx(native_fps, abs=1e-9)
    assert clip.duration == pytest.approx(total / native_fps, abs=1e-6)


def test_default_is_eight_uniform_frames(videos):
    path, total, _ = videos["x264_8fps"]
    clip = load_video(path)
    assert clip.frame_indices.tolist() == [(2 * i + 1) * total // 16 for i in range(8)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "rate"), [("x264_8fps", 3.3), ("mpeg4_ntsc", 2.7), ("mpeg4_ntsc", 7.0)])
def test_fixed_rate_sampling_takes_the_frame_at_or_before_each_time(videos, name, rate, backend):
    path, total, native_fps = videos[name]
    clip = load_video(path, fps=rate, backend=backend)
    duration = total / native_fps
    times = [k / rate for k in range(int(duration * rate) + 2) if k / rate < duration]
    expected = sorted({min(total - 1, math.floor(t * native_fps + 1e-9)) for t in times})
    assert clip.frame_indices.tolist() == expected
    assert decoded_indices(clip) == expected
    np.testing.assert_allclose(clip.timestamps, decord_start_times(path, expected), rtol=0, atol=1e-6)
    assert np.all(np.diff(clip.timestamps) > 0)
    # every sampling time is covered by a frame that started at most one native frame earlier
    for t in times:
        previous = clip.timestamps[clip.timestamps <= t + 1e-6]
        assert previous.size and t - previous[-1] < 1 / native_fps + 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_fixed_rate_keeps_a_frame_that_starts_exactly_at_the_sampling_time(videos, backend):
    # 30 fps sampled at 10 fps: t = 0.1 s is exactly frame 3, stored as float32(0.1) > 0.1 by decord
    path, total, _ = videos["x264_30fps"]
    clip = load_video(path, fps=10, backend=backend)
    assert clip.frame_indices.tolist() == list(range(0, total, 3))
    assert decoded_indices(clip) == list(range(0, total, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_more_frames_asked_than_the_video_has_returns_each_frame_once(videos, backend, caplog):
    path, total, native_fps = videos["x264_8fps"]
    with caplog.at_level(logging.WARNING, logger=video_sherlock.logger.name):
        clip = load_video(path, num_frames=total + 25, backend=backend)
    assert clip.frame_indices.tolist() == list(range(total)) == decoded_indices(clip)
    assert f"fewer than the {total + 25} asked for" in caplog.text
    # a probe (the processor probes, then decodes) stays quiet: the warning comes once, from the decode
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=video_sherlock.logger.name):
        probe = load_video(path, num_frames=total + 25, backend=backend, decode=False)
    assert probe.frame_indices.tolist() == list(range(total)) and not caplog.records
    # a rate above the native one also gives every frame once
    faster = load_video(path, fps=3 * native_fps, backend=backend)
    assert faster.frame_indices.tolist() == list(range(total))


# ---------------------------------------------------------------------------------------------------- both backends


@pytest.mark.parametrize("name", ["x264_8fps", "mpeg4_ntsc"])
@pytest.mark.parametrize("settings", [{"num_frames": 8}, {"fps": 2.5}, {"num_frames": 100}])
def test_decord_and_pyav_agree(videos, name, settings):
    path = videos[name][0]
    a = load_video(path, backend="decord", **settings)
    b = load_video(path, backend="pyav", **settings)
    assert (a.backend, b.backend) == ("decord", "pyav")
    np.testing.assert_array_equal(a.frame_indices, b.frame_indices)
    np.testing.assert_allclose(a.timestamps, b.timestamps, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)  # bit for bit: the feature-cache keys match
    assert a.duration == b.duration and a.fps == b.fps
    assert a.frames.shape == b.frames.shape
    assert np.abs(a.frames.astype(np.int16) - b.frames).mean() < 2.0


def test_rotated_video_is_returned_upright_and_auto_falls_back_when_decord_fails(tmp_path, caplog):
    upside_down = vf.write_video(tmp_path / "r180.mp4", num_frames=12, rotation=180, codec="mpeg4")
    a, b = (load_video(upside_down, num_frames=4, backend=backend) for backend in BACKENDS)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert [vf.frame_index_of(np.rot90(f, 2)) for f in b.frames] == b.frame_indices.tolist()
    # decord 0.6 cannot output 90-degree rotated video (a buffer size check fails): auto falls back to PyAV
    portrait = vf.write_video(tmp_path / "r90.mp4", num_frames=12, rotation=90, codec="mpeg4")
    with caplog.at_level(logging.DEBUG, logger=video_sherlock.logger.name):
        clip = load_video(portrait, num_frames=4)
    assert clip.frames.shape == (4, 64, 48, 3)
    assert [vf.frame_index_of(np.rot90(f, -1)) for f in clip.frames] == clip.frame_indices.tolist()
    if clip.backend == "pyav":
        assert "trying PyAV" in caplog.text


def test_auto_falls_back_to_pyav_when_decord_cannot_open(videos, monkeypatch, caplog):
    def broken_reader(*args, **kwargs):
        raise RuntimeError("Error reading file...")

    monkeypatch.setattr(decord, "VideoReader", broken_reader)
    path = videos["x264_8fps"][0]
    with caplog.at_level(logging.DEBUG, logger=video_sherlock.logger.name):
        clip = load_video(path, num_frames=4)
    assert clip.backend == "pyav" and decoded_indices(clip) == clip.frame_indices.tolist()
    assert "trying PyAV" in caplog.text
    with pytest.raises(VideoDecodeError, match=r"decord cannot open it \(Error reading file"):
        load_video(path, backend="decord")


# ------------------------------------------------------------------------------------------------------------ inputs


@pytest.mark.parametrize("backend", BACKENDS)
def test_paths_file_objects_and_bytes_give_the_same_clip(videos, backend):
    path = videos["mpeg4_ntsc"][0]
    reference = load_video(str(path), num_frames=5, backend=backend)
    with open(path, "rb") as handle:
        from_file = load_video(handle, num_frames=5, backend=backend)
    from_path = load_video(Path(path), num_frames=5, backend=backend)
    from_bytes = load_video(path.read_bytes(), num_frames=5, backend=backend)
    assert (from_file.source, from_bytes.source, from_path.source) == ("<file object>", "<bytes>", str(path))
    for clip in (from_file, from_path, from_bytes):
        np.testing.assert_array_equal(clip.frame_indices, reference.frame_indices)
        np.testing.assert_array_equal(clip.timestamps, reference.timestamps)
        np.testing.assert_array_equal(clip.frames, reference.frames)
        assert clip.duration == reference.duration and clip.backend == backend


def test_arrays_and_lists_of_frames():
    frames = np.stack([vf.index_frame(i) for i in range(30)])
    clip = load_video(frames, num_frames=4, array_fps=10)
    assert clip.backend == "array" and clip.source == "<array>"
    assert clip.frame_indices.tolist() == [3, 11, 18, 26]
    np.testing.assert_array_equal(clip.frames, frames[[3, 11, 18, 26]])
    np.testing.assert_allclose(clip.timestamps, [0.3, 1.1, 1.8, 2.6])
    assert clip.duration == 3.0 and clip.fps == 10.0
    clip.frames[0] = 0  # a copy: the caller's array is untouched
    assert frames[3].any()
    as_list = load_video(list(frames), fps=2.5, array_fps=10)
    assert as_list.frame_indices.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    np.testing.assert_array_equal(as_list.frames, frames[as_list.frame_indices])
    with pytest.raises(ValueError, match="array_fps"):
        load_video(frames, num_frames=4)
    with pytest.raises(ValueError, match="uint8"):
        load_video(frames.astype(np.float32), array_fps=10)
    with pytest.raises(ValueError, match=r"\(num_frames, height, width, 3\)"):
        load_video(frames[..., 0], array_fps=10)


def test_argument_errors(videos):
    path = videos["x264_8fps"][0]
    with pytest.raises(ValueError, match="either num_frames or fps"):
        load_video(path, num_frames=8, fps=2.0)
    with pytest.raises(ValueError, match="backend"):
        load_video(path, backend="opencv")
    for bad in ({"num_frames": 0}, {"num_frames": 2.5}, {"fps": 0}, {"fps": float("nan")}):
        with pytest.raises(ValueError):
            load_video(path, **bad)
    with pytest.raises(TypeError):
        load_video(12345)


# ------------------------------------------------------------------------------------------------------- bad videos


def _cut_at_packet_boundary(path):
    """A faststart mp4 cut right after its 20th packet: decord alone opens it as a 20-frame video."""
    vf.write_video(path, num_frames=40, faststart=True, codec="mpeg4")
    with av.open(str(path)) as container:
        packets = [p for p in container.demux(container.streams.video[0]) if p.size]
    end = packets[19].pos + packets[19].size
    path.write_bytes(path.read_bytes()[:end])
    return path


BAD_VIDEOS = {
    "empty": (vf.make_empty, "empty file"),
    "text": (vf.make_text_as_mp4, "not a video"),
    "truncated": (vf.make_truncated, "truncated"),
    "tail_cut": (lambda p: vf.make_truncated(p, fraction=0.7, faststart=True, num_frames=40), "truncated"),
    "packet_cut": (_cut_at_packet_boundary, "truncated"),
    "zero_frames": (vf.make_zero_frame_video, "no frames"),
    "missing": (lambda p: p, "no such file"),
}


@pytest.mark.parametrize("backend", ["auto", "pyav"])
@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_videos_raise_one_clear_error(tmp_path, case, backend):
    make, reason = BAD_VIDEOS[case]
    path = tmp_path / f"{case}.mp4"
    make(path)
    with pytest.raises(VideoDecodeError) as info:
        load_video(path, backend=backend)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and reason in message, message
    assert info.value.source == str(path) and reason in info.value.reason
    assert isinstance(info.value, ValueError)
    if path.exists():  # the same verdict for the bytes read from a file object
        with open(path, "rb") as handle, pytest.raises(VideoDecodeError, match=f"<file object>: .*{reason}"):
            load_video(handle, backend=backend)


@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_videos_with_decord_forced_raise_video_decode_error(tmp_path, case):
    make, reason = BAD_VIDEOS[case]
    path = make(tmp_path / f"{case}.mp4")
    with pytest.raises(VideoDecodeError) as info:  # never a raw DECORDError / RuntimeError
        load_video(path, backend="decord")
    assert "\n" not in str(info.value) and str(path) in str(info.value)
    if case in ("empty", "text", "truncated", "tail_cut", "packet_cut", "missing"):
        assert reason in str(info.value)


def test_zero_duration_arrays():
    with pytest.raises(VideoDecodeError, match=r"<array>: no frames .*zero duration"):
        load_video(np.zeros((0, 48, 64, 3), dtype=np.uint8), array_fps=8)
    with pytest.raises(VideoDecodeError, match="zero duration"):
        load_video([], array_fps=8)
    with pytest.raises(ValueError, match="array_fps"):
        load_video(np.zeros((4, 48, 64, 3), dtype=np.uint8), array_fps=0)


def test_video_decode_error_pickles():
    error = pickle.loads(pickle.dumps(VideoDecodeError("a.mp4", "empty file (0 bytes)")))
    assert str(error) == "cannot load video a.mp4: empty file (0 bytes)" and error.source == "a.mp4"


# ------------------------------------------------------------------------------------------------- optional libraries


def test_pyav_works_without_decord(videos, monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` now raises ImportError
    path = videos["x264_8fps"][0]
    clip = load_video(path, num_frames=4)
    assert clip.backend == "pyav" and decoded_indices(clip) == clip.frame_indices.tolist()
    assert load_video(path, num_frames=4, backend="pyav").backend == "pyav"
    with pytest.raises(ImportError, match="pip install decord"):
        load_video(path, backend="decord")


def test_missing_libraries_say_what_to_install(videos, monkeypatch):
    path = videos["x264_8fps"][0]
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match="pip install av"):
        load_video(path, backend="pyav")
    assert load_video(path, num_frames=2).backend == "decord"
    monkeypatch.setitem(sys.modules, "decord", None)
    with pytest.raises(ImportError, match=r"pip install decord.*pip install av"):
        load_video(path)
    # arrays need neither library
    assert load_video(np.zeros((3, 8, 8, 3), dtype=np.uint8), array_fps=1).backend == "array"


def test_module_imports_decord_and_av_lazily():
    for module in (video_sherlock, video_sampling_sherlock, video_backends_sherlock):
        tree = ast.parse(Path(module.__file__).read_text())
        roots = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level in (0, 1), (module.__name__, node.module)  # flat remote code: single-dot siblings
                roots.add("." if node.level else node.module.split(".")[0])
        allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "transformers", "."}
        assert roots <= allowed, (module.__name__, roots)
        assert isinstance(tree.body[-1], ast.Assign) and tree.body[-1].targets[0].id == "__all__", module.__name__
    assert set(video_sherlock.__all__) >= {"VideoClip", "VideoDecodeError", "load_video", "video_content_hash"}


# ------------------------------------------------------------------------------------------------------------ hashing


def test_content_hash_of_files(videos, tmp_path):
    path = videos["x264_8fps"][0]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert video_content_hash(path) == video_content_hash(str(path)) == digest
    assert video_content_hash(path.read_bytes()) == digest
    with open(path, "rb") as handle:
        handle.seek(0)
        assert video_content_hash(handle) == digest
        assert handle.tell() == 0  # put back: load_video can read the same object afterwards
        assert load_video(handle, num_frames=2).frame_indices.tolist() == [10, 30]
    copy = tmp_path / "renamed.bin"
    copy.write_bytes(path.read_bytes())
    assert video_content_hash(copy) == digest
    assert video_content_hash(videos["mpeg4_ntsc"][0]) != digest
    assert video_content_hash(io.BytesIO(b"")) == hashlib.sha256(b"").hexdigest()
    with pytest.raises(VideoDecodeError, match="no such file"):
        video_content_hash(tmp_path / "missing.mp4")


def test_content_hash_of_arrays():
    frames = np.stack([vf.index_frame(i, size=(32, 24)) for i in range(6)])
    digest = video_content_hash(frames, array_fps=8)
    assert video_content_hash(list(frames), array_fps=8) == digest
    assert video_content_hash(frames.copy(), array_fps=8) == digest
    assert video_content_hash(frames, array_fps=10) != digest
    assert video_content_hash(frames[:5], array_fps=8) != digest
    assert video_content_hash(frames.reshape(6, 48, 16, 3), array_fps=8) != digest  # same bytes, other shape
    changed = frames.copy()
    changed[5, 0, 0, 0] ^= 1
    assert video_content_hash(changed, array_fps=8) != digest


def test_content_hash_of_a_path_is_memoised_until_the_file_changes(tmp_path, monkeypatch):
    path = vf.write_video(tmp_path / "memo.mp4", num_frames=8, codec="mpeg4")
    original = path.read_bytes()
    changed = bytearray(original)
    changed[-1] ^= 0xFF
    reads = []
    real_open = builtins.open

    def watching_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(file) == os.path.realpath(path):
            reads.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watching_open)
    first = video_content_hash(path)
    assert first == hashlib.sha256(original).hexdigest() and len(reads) == 1
    assert video_content_hash(str(path)) == first and video_content_hash(path) == first
    assert len(reads) == 1  # an unchanged file is only stat-ed, not read again
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))  # touched: read again, same content
    assert video_content_hash(path) == first and len(reads) == 2
    # changed in place (same size, another modification time): a new hash
    path.write_bytes(bytes(changed))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 2 * 10**9))
    assert video_content_hash(path) == hashlib.sha256(bytes(changed)).hexdigest() != first and len(reads) == 3
    # changed back in place with the modification time put back: the status-change time still tells
    before = path.stat().st_ctime_ns
    path.write_bytes(original)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 2 * 10**9))
    while path.stat().st_ctime_ns == before:  # a coarse file-system clock: wait for its next tick
        time.sleep(0.005)
        os.chmod(path, path.stat().st_mode)
    assert video_content_hash(path) == first
    path.write_bytes(original + b"\0")  # another size
    assert video_content_hash(path) == hashlib.sha256(original + b"\0").hexdigest()
    with pytest.raises(VideoDecodeError, match="is a directory, not a video file"):
        video_content_hash(tmp_path)


# ----------------------------------------------------------------------------------------------------- probe, unpack


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("sampling", [{"num_frames": 5}, {"fps": 3.0}])
def test_probing_without_decoding_gives_the_decoded_clips_timeline(tmp_path, backend, sampling):
    path = vf.write_video(tmp_path / "probe.mp4", num_frames=30, fps=10.0)
    decoded = load_video(path, backend=backend, **sampling)
    probed = load_video(path, backend=backend, decode=False, **sampling)
    np.testing.assert_array_equal(probed.timestamps, decoded.timestamps)
    np.testing.assert_array_equal(probed.frame_indices, decoded.frame_indices)
    assert probed.duration == decoded.duration and probed.fps == decoded.fps
    assert probed.frames.shape == (len(decoded.timestamps), 0, 0, 3)
    # and the two backends probe the same timeline
    other = load_video(path, backend="pyav" if backend == "decord" else "decord", decode=False, **sampling)
    np.testing.assert_array_equal(other.timestamps, probed.timestamps)


def test_clip_unpacks_as_frames_timestamps_duration(tmp_path):
    path = vf.write_video(tmp_path / "unpack.mp4", num_frames=16, fps=8.0)
    frames, timestamps, duration = load_video(path, num_frames=4)
    assert frames.shape[0] == len(timestamps) == 4 and duration == pytest.approx(2.0)


# ------------------------------------------------------------------------------------- cheap input checks (CLI too)


def _image_file(path, fmt):
    from PIL import Image

    Image.fromarray(vf.index_frame(5)).save(path, format=fmt)
    return path


NOT_VIDEOS = {
    "missing": (lambda p: p, "no such file"),
    "directory": (lambda p: (p.mkdir(), p)[1], "is a directory, not a video file"),
    "empty": (vf.make_empty, "empty file (0 bytes)"),
    "text": (vf.make_text_as_mp4, "not a video: the file contains text"),
    "png": (lambda p: _image_file(p, "PNG"), "is an image, not a video (PNG)"),
    "jpeg": (lambda p: _image_file(p, "JPEG"), "is an image, not a video (JPEG)"),
    "gif": (lambda p: _image_file(p, "GIF"), "is an image, not a video (GIF)"),
    "bmp": (lambda p: _image_file(p, "BMP"), "is an image, not a video (BMP)"),
    "webp": (lambda p: _image_file(p, "WEBP"), "is an image, not a video (WebP)"),
}


@pytest.mark.parametrize("case", sorted(NOT_VIDEOS))
def test_check_video_file_gives_the_precise_reason_and_load_video_the_same_error(tmp_path, case, caplog):
    make, reason = NOT_VIDEOS[case]
    path = make(tmp_path / f"{case}.mp4")
    with pytest.raises(VideoDecodeError) as checked:
        check_video_file(path)
    assert checked.value.reason == reason and checked.value.source == str(path)
    assert str(checked.value) == f"cannot load video {path}: {reason}"
    for backend in ("auto", "decord", "pyav"):
        with caplog.at_level(logging.WARNING), pytest.raises(VideoDecodeError) as loaded:
            load_video(path, backend=backend)
        assert str(loaded.value) == str(checked.value)  # the same one-line message everywhere
    assert not caplog.records  # one error, nothing logged besides (no "fewer frames" warning for an image)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_images_given_as_bytes_or_file_objects_are_rejected_too(tmp_path, fmt):
    data = _image_file(tmp_path / "frame.img", fmt).read_bytes()
    with pytest.raises(VideoDecodeError, match=rf"^cannot load video <bytes>: is an image, not a video \({fmt}\)$"):
        load_video(data)
    with pytest.raises(VideoDecodeError, match=r"<file object>: is an image, not a video"):
        load_video(io.BytesIO(data), backend="pyav")


def test_check_video_file_accepts_videos_reading_only_their_headers(videos, tmp_path, monkeypatch):
    big = vf.write_video(tmp_path / "big.mp4", num_frames=30, size=(160, 96), pattern="texture")
    read = []
    real_open = builtins.open

    class CountingFile:
        def __init__(self, handle):
            self.handle = handle

        def read(self, size=-1):
            data = self.handle.read(size)
            read.append(len(data))
            return data

        def seek(self, *args):
            return self.handle.seek(*args)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(builtins, "open", lambda *args, **kwargs: CountingFile(real_open(*args, **kwargs)))
    for path in [big, *(path for path, _, _ in videos.values())]:
        read.clear()
        assert check_video_file(path) is None and check_video_file(str(path)) is None
        assert 0 < sum(read) <= 2 * (512 + 16 * 8), (path, read)  # the head and a few box headers, twice
    assert big.stat().st_size > 10_000  # far more than was read
    monkeypatch.undo()
    # an mp4 cut short is caught without any decoder, from a file or from memory
    data = big.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="cut.mp4: truncated"):
        check_video_file(tmp_path / "cut.mp4")
    with pytest.raises(VideoDecodeError, match="<bytes>: truncated"):
        video_check_sherlock.check_video_bytes(data[: len(data) // 2])


def test_video_decode_error_is_one_class_defined_in_the_cheap_module():
    assert video_sherlock.VideoDecodeError is video_check_sherlock.VideoDecodeError
    error = pickle.loads(
        pickle.dumps(video_check_sherlock.VideoDecodeError("a.png", "is an image, not a video (PNG)"))
    )
    assert isinstance(error, VideoDecodeError) and isinstance(error, ValueError) and error.source == "a.png"


def test_video_check_module_imports_only_the_standard_library():
    source_file = Path(video_check_sherlock.__file__)
    tree = ast.parse(source_file.read_text())
    roots = set()
    for node in ast.walk(tree):  # anywhere in the file, not only at the top
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names), roots
    # and loading it (on its own, as the CLI does through a lazy package) pulls in neither numpy nor transformers
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('video_check_sherlock', {str(source_file)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(sorted(name for name in ('numpy', 'transformers', 'torch') if name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
