"""Video IO (processing/video_sherlock.py): sampling, timestamps, decord / PyAV agreement, inputs and bad videos.

Every video is written on the spot by tests/video_factory.py; each frame encodes its own index in its pixels.
"""

import ast
import hashlib
import io
import logging
import math
import pickle
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from processing import video_sherlock
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


def test_long_video_timestamps_agree_bit_for_bit(tmp_path):
    # 75 s at 29.97 fps: float32 times lose sub-microsecond digits here, both backends must round alike
    path = vf.write_video(tmp_path / "long.mp4", num_frames=2250, fps=NTSC, size=(32, 24), codec="mpeg4")
    a = load_video(path, fps=1.0, backend="decord")
    b = load_video(path, fps=1.0, backend="pyav")
    np.testing.assert_array_equal(a.frame_indices, b.frame_indices)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.duration == b.duration
    assert len(a.frame_indices) == 76 and decoded_indices(b) == b.frame_indices.tolist()


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
    tree = ast.parse(Path(video_sherlock.__file__).read_text())
    roots = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("." if node.level else node.module.split(".")[0])
    assert roots <= set(sys.stdlib_module_names) | {"numpy", "torch", "transformers", "."}, roots
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


# --------------------------------------------------------------------------------------------------------- benchmark


def test_benchmark_quick_run_decodes_the_right_frames_with_both_backends(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchmark_video_io

    results = benchmark_video_io.main(["--quick"])
    for mode in ("fixed_rate", "uniform"):
        assert results[mode]["backends_agree"] and results[mode]["mean_abs_pixel_diff"] < 2.0
        for backend in BACKENDS:
            figures = results[mode][backend]
            assert figures["frames_ok"] and figures["backend_used"] == backend and figures["median_s"] > 0
    assert results["fixed_rate"]["pyav"]["sampled_frames"] == 32  # 4 s at 8 fps
    assert results["uniform"]["decord"]["sampled_frames"] == 8


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
