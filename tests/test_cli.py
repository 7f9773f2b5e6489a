"""The `sherlock analyze` console script: a table or JSON for a good video, one line and a non-zero code otherwise."""

import json
import subprocess
import sys

import pytest

from sherlock.cli import main
from sherlock.demo import EXAMPLE_VIDEO, ensure_demo_model
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock

from video_factory import make_text_as_mp4, make_truncated, write_video


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=8, max_objects=16)
    settings["objects"]["max_relations"] = 32
    return build_tiny_sherlock(tmp_path_factory.mktemp("model"), extractors=settings, num_frames=4)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.mp4", num_frames=24, fps=8.0, size=(96, 64))


def test_json_output_and_the_feature_cache(model_folder, video, tmp_path, capsys):
    cache = tmp_path / "cache"
    code = main(["analyze", str(video), "--model", str(model_folder), "--json", "--cache-dir", str(cache)])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["duration"] == pytest.approx(3.0) and len(payload["frame_times"]) == 4
    assert isinstance(payload["answer"], str) and isinstance(payload["events"], list)
    for event in payload["events"]:
        assert set(event) >= {"start", "end", "subject", "event_type", "object", "scene", "score"}
    assert len(list(cache.rglob("*.safetensors"))) == 2  # the extractors' outputs and the pixels were cached


def test_table_output(model_folder, video, capsys):
    assert main(["analyze", str(video), "--model", str(model_folder), "--num-frames", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{video}: 3.0 s, frames at ")
    assert out[1].split() == ["start", "end", "subject", "event", "type", "object", "scene", "score"]
    assert set(out[2].replace(" ", "")) == {"-"}


@pytest.mark.parametrize(
    "make, code, needle",
    [
        (lambda path: path, 2, "no such file"),
        (make_text_as_mp4, 2, "contains text"),
        (lambda path: make_truncated(path, fraction=0.3), 2, "truncated"),
    ],
)
def test_bad_video_exits_non_zero_with_one_line(model_folder, tmp_path, capsys, make, code, needle):
    path = make(tmp_path / "bad.mp4")
    assert main(["analyze", str(path), "--model", str(model_folder)]) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sherlock analyze: bad video:") and needle in lines[0]
    assert captured.out == ""


def test_missing_model_exits_non_zero_with_one_line(video, tmp_path, capsys):
    assert main(["analyze", str(video), "--model", str(tmp_path / "no-model")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not found" in lines[0]


def test_console_script_runs_the_demo_on_the_shipped_example(tmp_path):
    """The README's first command: the built-in demo model is built on first use, then reused."""
    env_home = tmp_path / "home"
    command = [sys.executable, "-m", "sherlock.cli", "analyze", str(EXAMPLE_VIDEO)]
    result = subprocess.run(
        command,
        env={**__import__("os").environ, "SHERLOCK_HOME": str(env_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0].startswith(f"{EXAMPLE_VIDEO}: 5.0 s, frames at ")
    assert "RANDOMLY initialised" in result.stderr
    folder = ensure_demo_model(env_home / "demo-tiny-random")
    assert (folder / "model.safetensors").is_file() and (folder / "processor_config.json").is_file()
