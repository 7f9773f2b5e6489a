"""The Space's settings, limits and outputs without a browser (`test_space_browser.py` drives the real UI)."""

import pytest

from processing import AbnormalEvent
from sherlock.analyze import AnalysisResult
from sherlock.space import SpaceInputError, SpaceSettings, _probe, events_table, subtitles_vtt, timeline_figure

from video_factory import write_video


def _result(events):
    return AnalysisResult(events=events, answer="", duration=8.0, timestamps=[0.5 + i for i in range(8)])


EVENTS = [
    AbnormalEvent(1.0, 3.25, "people", "Fighting", "none", "Street", score=0.87654),
    AbnormalEvent(3605.5, 3610.0, "car", "Accidents", "pedestrian", "Road"),
]


def test_settings_come_from_the_environment_and_bad_numbers_name_their_variable(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"")
    settings = SpaceSettings.from_env(
        {"SHERLOCK_MODEL": "org/sherlock", "SHERLOCK_SPACE_MAX_UPLOAD_MB": "2.5", "SHERLOCK_SPACE_CONCURRENCY": "3"},
        examples_dir=tmp_path,
    )
    assert (settings.model, settings.max_upload_mb, settings.concurrency_limit) == ("org/sherlock", 2.5, 3)
    assert settings.max_duration_s == 120.0 and settings.examples == [str(tmp_path / "a.mp4")]
    with pytest.raises(ValueError, match="SHERLOCK_SPACE_MAX_QUEUE='many' is not a valid int"):
        SpaceSettings.from_env({"SHERLOCK_SPACE_MAX_QUEUE": "many"})


def test_the_table_and_the_subtitles_carry_every_event():
    assert events_table(_result(EVENTS)) == [
        [1.0, 3.25, "people", "Fighting", "none", "Street", 0.877],
        [3605.5, 3610.0, "car", "Accidents", "pedestrian", "Road", None],
    ]
    assert subtitles_vtt(_result(EVENTS)).splitlines() == [
        "WEBVTT",
        "",
        "00:00:01.000 --> 00:00:03.250",
        "Fighting: people -> none (Street)",
        "",
        "01:00:05.500 --> 01:00:10.000",
        "Accidents: car -> pedestrian (Road)",
    ]
    figure = timeline_figure(_result(EVENTS[:1]))
    axes = figure.axes[0]
    assert len(axes.patches) == 1 and axes.patches[0].get_x() == 1.0 and axes.patches[0].get_width() == 2.25
    assert axes.get_xlim() == (0.0, 8.0) and len(axes.lines) == 8  # one dotted line per sampled frame
    assert timeline_figure(_result([])).axes[0].get_title() == "No abnormal event found"


class _Processor:
    from processing import SherlockProcessor

    load_video = SherlockProcessor.load_video
    backend, num_frames, fps, max_frames = "auto", 8, None, 256


def test_uploads_over_the_size_or_duration_limit_are_refused_with_a_readable_message(tmp_path):
    video = write_video(tmp_path / "clip.mp4", num_frames=40, fps=8.0, size=(96, 64))  # 5 s
    processor = _Processor()
    assert _probe(processor, str(video), SpaceSettings(max_duration_s=5.0)).duration == 5.0
    with pytest.raises(SpaceInputError, match=r"^The video lasts 5.0 s; this demo accepts at most 4 s.$"):
        _probe(processor, str(video), SpaceSettings(max_duration_s=4.0))
    with pytest.raises(SpaceInputError, match=r"^The video is 0.0 MB; this demo accepts at most 1e-05 MB.$"):
        _probe(processor, str(video), SpaceSettings(max_upload_mb=0.00001))
    (tmp_path / "image.mp4").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(SpaceInputError, match=r"^This file cannot be analysed: is an image, not a video \(PNG\).$"):
        _probe(processor, str(tmp_path / "image.mp4"), SpaceSettings())


def test_frames_per_second_sample_at_that_rate_within_the_frame_limit(tmp_path):
    from sherlock.space import SpaceAnalyzer
    from sherlock.tiny_extractors import tiny_extractor_settings
    from sherlock.tiny_models import build_tiny_sherlock

    folder = build_tiny_sherlock(tmp_path / "model", extractors=tiny_extractor_settings(threshold=0.15))
    video = str(write_video(tmp_path / "clip.mp4", num_frames=40, fps=8.0, size=(96, 64)))  # 5 s
    analyzer = SpaceAnalyzer(SpaceSettings(model=str(folder), max_frames=16))
    result, json_path, vtt_path = analyzer.analyze(video, fps=2.0)
    assert result.timestamps == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    result, _, _ = analyzer.analyze(video, num_frames=3)  # the loaded processor was not changed by the request above
    assert len(result.timestamps) == 3 and analyzer.load()[1].fps is None
    built = analyzer.load()[1]._extractor_set  # built once at load, shared by every request's copy
    assert built is not None and analyzer.load()[1]._extractor_set is built
    with pytest.raises(
        SpaceInputError, match="^The sampling gives 40 frames for this video; this demo samples at most 16: lower"
    ):
        analyzer.analyze(video, fps=8.0)
    with pytest.raises(SpaceInputError, match="^Upload a video"):
        analyzer.analyze(None)


def test_concurrent_requests_keep_the_answer_folders_bounded_and_never_race(tmp_path):
    """Requests from several threads at once (a Space with a concurrency above 1, or ZeroGPU's parallel workers): no
    request fails, and the answer files on disk never exceed `max_answers` folders of two files, also when half of
    the requests go through a second analyzer on the same output folder (what a ZeroGPU child process sees: a
    fresh analyzer that remembers none of the answers written before)."""
    import json
    import os
    import threading

    from sherlock.space import SpaceAnalyzer
    from sherlock.tiny_extractors import tiny_extractor_settings
    from sherlock.tiny_models import build_tiny_sherlock

    folder = build_tiny_sherlock(tmp_path / "model", extractors=tiny_extractor_settings(threshold=0.15))
    video = str(write_video(tmp_path / "clip.mp4", num_frames=16, fps=8.0, size=(64, 48)))
    settings, bound = SpaceSettings(model=str(folder)), 4
    settings.max_answers = bound
    analyzer = SpaceAnalyzer(settings)
    analyzer.load()
    outputs = analyzer._outputs
    other = SpaceAnalyzer(settings, outputs=outputs)
    other._loaded = analyzer._loaded  # the same model: only the view of the answers on disk is fresh
    counts, errors, answers, done = [], [], [], threading.Event()

    def watch():  # os.walk skips a folder removed while it is read
        while not done.is_set():
            counts.append(sum(len(files) for _, _, files in os.walk(outputs)))
            done.wait(0.002)

    def request(analyzer):
        try:
            for _ in range(3):
                answers.append(analyzer.analyze(video, num_frames=2))
        except Exception as error:  # noqa: BLE001  (any failure of a request is what this test looks for)
            errors.append(repr(error))

    threads = [threading.Thread(target=watch)] + [
        threading.Thread(target=request, args=(each,)) for each in (analyzer, other, analyzer, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    done.set()
    threads[0].join()
    assert errors == [] and len(answers) == 12
    assert counts and max(counts) <= 2 * bound  # two files (JSON, subtitles) per kept answer
    kept = sorted(outputs.iterdir())
    assert 1 <= len(kept) <= bound
    for answer in kept:  # the newest answers, whole
        assert sorted(path.name for path in answer.iterdir()) == ["events.json", "events.vtt"]
        assert json.loads((answer / "events.json").read_text())["events"] is not None


def test_gradio_deletes_old_uploads_and_served_files():
    from sherlock.space import build_demo

    settings = SpaceSettings(model="demo")
    settings.keep_files_s = 900.0
    assert build_demo(settings).delete_cache == (600, 900)  # every 10 min, what is older than 15 min
    assert SpaceSettings.from_env({"SHERLOCK_SPACE_KEEP_FILES_S": "120"}).delete_cache == (120, 120)
