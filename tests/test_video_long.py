"""Video IO on longer videos, and what decoding costs (processing/video_sherlock.py and its backends).

float32 frame times over minutes and without float32 noise, the `max_frames` cap of fixed-rate sampling, PyAV's
seeking to keyframes (counted through the `_decode_packet` hook), and the decode benchmark's quick run.
Every video is written on the spot by tests/video_factory.py; each frame encodes its own index in its pixels.
"""

import json
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from processing import video_backends_sherlock, video_sherlock
from processing.video_sherlock import VideoDecodeError, load_video, round_seconds

import video_factory as vf


pytest.importorskip("decord")
pytest.importorskip("av")

BACKENDS = ("decord", "pyav")
NTSC = Fraction(30000, 1001)


def decoded_indices(clip):
    return [vf.frame_index_of(frame) for frame in clip.frames]


# ------------------------------------------------------------------------------------------------------- long videos


def test_long_video_timestamps_agree_bit_for_bit(tmp_path):
    # 75 s at 29.97 fps: float32 times lose sub-microsecond digits here, both backends must round alike
    path = vf.write_video(tmp_path / "long.mp4", num_frames=2250, fps=NTSC, size=(32, 24), codec="mpeg4")
    a = load_video(path, fps=1.0, backend="decord")
    b = load_video(path, fps=1.0, backend="pyav")
    np.testing.assert_array_equal(a.frame_indices, b.frame_indices)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)
    assert a.duration == b.duration
    assert len(a.frame_indices) == 76 and decoded_indices(b) == b.frame_indices.tolist()


# ---------------------------------------------------------------------------------------- frame cap of fps sampling


def test_fixed_rate_sampling_beyond_max_frames_raises_before_decoding(tmp_path, monkeypatch):
    path = vf.write_video(tmp_path / "ten_s.mp4", num_frames=300, fps=30, size=(32, 24), codec="mpeg4")
    calls = []
    monkeypatch.setattr(video_sherlock, "_decode_packet", lambda packet: calls.append(1) or packet.decode())
    for backend in BACKENDS:
        for decode in (True, False):  # a probe refuses like the decode
            with pytest.raises(ValueError) as info:
                load_video(path, fps=30, backend=backend, decode=decode)  # 300 frames, default cap 256
            message = str(info.value)
            assert not isinstance(info.value, VideoDecodeError)  # the file is fine, the request is too large
            for needle in ("300 frames", "10.0 s", "max_frames=256", "lower fps", "raise max_frames"):
                assert needle in message, message
    assert calls == []  # refused before decoding anything
    assert video_sherlock.DEFAULT_MAX_FRAMES == 256
    # the suggested rate really fits under the cap
    with pytest.raises(
        ValueError, match=r"gives 50 frames over its 10.0 s, more than max_frames=20: lower fps \(to at most 2 "
    ):
        load_video(path, fps=5, max_frames=20, decode=False)
    assert len(load_video(path, fps=2, max_frames=20, decode=False).frame_indices) <= 20
    # a raised or removed cap allows it; uniform sampling is not capped (num_frames is the count)
    assert len(load_video(path, fps=30, max_frames=300, decode=False).frame_indices) == 300
    assert len(load_video(path, fps=30, max_frames=None, decode=False).frame_indices) == 300
    assert len(load_video(path, num_frames=280, decode=False).frame_indices) == 280
    frames = np.zeros((300, 8, 8, 3), dtype=np.uint8)  # arrays follow the same rule
    with pytest.raises(ValueError, match="300 frames"):
        load_video(frames, fps=30, array_fps=30)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_frames"):
            load_video(path, max_frames=bad)


# ----------------------------------------------------------------------------------------- PyAV seeks on long videos


@pytest.fixture(scope="module")
def many_keyframes(tmp_path_factory):
    """10 s at 30 fps, libx264 (B-frames) with a keyframe at least every 10 frames."""
    path = vf.write_video(tmp_path_factory.mktemp("gop") / "gop10.mp4", num_frames=300, fps=30, size=(32, 24), gop=10)
    keyframes = vf.keyframe_indices(path)
    assert len(keyframes) >= 20 and keyframes[0] == 0
    return path


def count_decoded(monkeypatch):
    counter = [0]
    original = video_sherlock._decode_packet

    def counting(packet):
        frames = original(packet)
        counter[0] += len(frames)
        return frames

    monkeypatch.setattr(video_sherlock, "_decode_packet", counting)
    return counter


@pytest.mark.parametrize("settings", [{"fps": 1.0}, {"num_frames": 6}, {"fps": 0.4}])
def test_pyav_seeks_to_keyframes_and_gives_decords_frames(many_keyframes, monkeypatch, settings):
    reference = load_video(many_keyframes, backend="decord", **settings)
    counter = count_decoded(monkeypatch)
    clip = load_video(many_keyframes, backend="pyav", **settings)
    np.testing.assert_array_equal(clip.frame_indices, reference.frame_indices)
    np.testing.assert_array_equal(clip.timestamps, reference.timestamps)
    assert decoded_indices(clip) == clip.frame_indices.tolist()
    assert np.abs(clip.frames.astype(np.int16) - reference.frames).mean() < 2.0
    # a sequential decode goes through every frame up to the last wanted one; seeking decodes a GOP per frame
    last = int(clip.frame_indices[-1])
    assert len(clip.frame_indices) <= counter[0] <= (last + 1) // 3, (counter[0], last)
    # and the pixels are exactly those of a sequential decode
    monkeypatch.setattr(video_backends_sherlock, "_SEEK_MIN_SKIP", 10**9)
    counter[0] = 0
    sequential = load_video(many_keyframes, backend="pyav", **settings)
    assert counter[0] >= last + 1
    np.testing.assert_array_equal(sequential.frames, clip.frames)


def test_frames_a_seek_skipped_are_decoded_from_the_start(many_keyframes, monkeypatch, caplog):
    reference = load_video(many_keyframes, backend="decord", fps=1.0)
    keyframes = np.asarray(vf.keyframe_indices(many_keyframes))
    original_plan = video_backends_sherlock._seek_plan

    def overshooting_plan(indices, known):  # every seek goes to the keyframe *after* the frames it should give
        return [(int(keyframes[keyframes > max(wanted)][0]), wanted) for _, wanted in original_plan(indices, known)]

    monkeypatch.setattr(video_backends_sherlock, "_seek_plan", overshooting_plan)
    with caplog.at_level(logging.DEBUG, logger=video_sherlock.logger.name):
        clip = load_video(many_keyframes, backend="pyav", fps=1.0)
    assert "missed after seeking" in caplog.text
    assert decoded_indices(clip) == clip.frame_indices.tolist() == reference.frame_indices.tolist()


def test_seeking_where_the_demuxer_seeks_imprecisely_still_gives_the_right_frames(tmp_path, monkeypatch):
    # MPEG-TS has no index: FFmpeg seeks by timestamp search and may land after the keyframe asked for
    path = vf.write_video(
        tmp_path / "gop.ts", num_frames=300, fps=30, size=(32, 24), gop=10, container_format="mpegts"
    )
    clip = load_video(path, backend="pyav", fps=1.0)
    assert clip.frame_indices.tolist() == list(range(0, 300, 30))
    assert decoded_indices(clip) == clip.frame_indices.tolist()
    np.testing.assert_array_equal(clip.timestamps, np.arange(10.0))
    monkeypatch.setattr(video_backends_sherlock, "_SEEK_MIN_SKIP", 10**9)
    np.testing.assert_array_equal(load_video(path, backend="pyav", fps=1.0).frames, clip.frames)


# ----------------------------------------------------------------------------------------- frame times without noise


def test_frame_times_and_duration_are_clean_decimals(tmp_path):
    # 25 fps: t = i / 25 (18.72, 16.04, ...) is not exact in binary, and decord's float32 made it 18.719999
    path = vf.write_video(tmp_path / "pal.mp4", num_frames=500, fps=25, size=(32, 24), codec="mpeg4")
    expected = [round(i / 25, 6) for i in range(500)]
    for backend in BACKENDS:
        probe = load_video(path, num_frames=500, backend=backend, decode=False)
        assert probe.timestamps.dtype == np.float64
        assert probe.timestamps.tolist() == expected  # exactly the float64 of the decimal: repr is "18.72"
        assert probe.duration == 20.0 and type(probe.duration) is float
        assert repr(probe.timestamps.tolist()[468]) == "18.72"
        clip = load_video(path, fps=0.5, backend=backend)
        assert json.dumps(clip.timestamps.tolist()) == json.dumps([float(2 * k) for k in range(10)])
        sampled = load_video(path, num_frames=16, backend=backend, decode=False)
        text = json.dumps({"frame_times": sampled.timestamps.tolist(), "duration": sampled.duration})
        assert "9999" not in text and "0001" not in text, text


def test_round_seconds_removes_float32_noise_only():
    assert round_seconds([np.float32(18.72)]).tolist() == [18.72]
    assert round_seconds(np.array([18.72, 0.36, 2.0, 0.0], dtype=np.float32)).tolist() == [18.72, 0.36, 2.0, 0.0]
    assert round_seconds([float(np.float32(18.72))]).tolist() == [18.72]  # float32 noise given as a float64
    assert round_seconds([1 / 30, 1001 / 30000]).tolist() == [0.033333, 0.033367]  # at most 6 decimals
    times = np.arange(0, 4000, 0.37, dtype=np.float64)
    rounded = round_seconds(times.astype(np.float32))
    # never further than half a float32 ulp plus half a microsecond from the float32 value
    ulp = np.spacing(times.astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(rounded - times.astype(np.float32)) <= ulp / 2 + 5e-7 + 1e-12)
    assert np.all(np.diff(rounded) > 0)
    np.testing.assert_array_equal(round_seconds(rounded), rounded)  # rounding again changes nothing
    # elementwise the shortest decimal of the float32, rounded to the microsecond
    sample = np.random.default_rng(0).uniform(0, 40, 2000).astype(np.float32)
    assert round_seconds(sample).tolist() == [round(float(str(t)), 6) for t in sample]


# --------------------------------------------------------------------------------------------------------- benchmark


def test_benchmark_quick_run_decodes_the_right_frames_with_both_backends(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchmark_video_io

    results = benchmark_video_io.main(["--quick"])
    for mode in ("fixed_rate", "uniform", "sparse"):
        assert results[mode]["backends_agree"] and results[mode]["mean_abs_pixel_diff"] < 2.0
        for backend in BACKENDS:
            figures = results[mode][backend]
            assert figures["frames_ok"] and figures["backend_used"] == backend and figures["median_s"] > 0
    assert results["fixed_rate"]["pyav"]["sampled_frames"] == 32  # 4 s at 8 fps
    assert results["uniform"]["decord"]["sampled_frames"] == 8
    # PyAV's decoded-frame count: at least the sampled frames, at most the frames up to the last one
    for mode in ("fixed_rate", "uniform", "sparse"):
        figures = results[mode]["pyav"]
        assert figures["sampled_frames"] <= figures["decoded_frames"] <= results["video"]["frames"]
