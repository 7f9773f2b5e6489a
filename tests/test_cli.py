"""The `sherlock analyze` console script: a table or JSON for a good video, one line and a non-zero code otherwise."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sherlock.cli import main
from sherlock.demo import EXAMPLE_VIDEO, default_demo_dir, demo_problem
from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
from sherlock.tiny_models import build_tiny_sherlock

from forced_answer import FORCED_ANSWER, FORCED_EVENT, forced_generation_kwargs
from video_factory import make_text_as_mp4, make_truncated, write_video


REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    settings = tiny_extractor_settings(tiny_extractor_models(), threshold=0.0, max_persons=8, max_objects=16)
    settings["objects"]["max_relations"] = 32
    return build_tiny_sherlock(tmp_path_factory.mktemp("model"), extractors=settings, num_frames=4)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("videos") / "clip.mp4", num_frames=24, fps=8.0, size=(96, 64))


@pytest.fixture
def forced_answer(monkeypatch):
    """Make `sherlock analyze` generate `FORCED_ANSWER` (through the real generate -> score -> parse path)."""
    import sherlock.analyze

    original = sherlock.analyze.analyze_video

    def forced(model, processor, video, **kwargs):
        return original(model, processor, video, **kwargs, **forced_generation_kwargs(processor.tokenizer))

    monkeypatch.setattr(sherlock.analyze, "analyze_video", forced)


def test_json_output_and_the_feature_cache(model_folder, tmp_path, capsys, forced_answer):
    # 25 fps: the frame times 0.36, 1.12, 1.84, 2.6 are not binary-exact (0.36 is 0.36000001430511475 in float32)
    video = write_video(tmp_path / "pal.mp4", num_frames=75, fps=25.0, size=(96, 64))
    cache = tmp_path / "cache"
    command = ["analyze", str(video), "--model", str(model_folder), "--json", "--cache-dir", str(cache)]
    assert main(command) == 0
    text = capsys.readouterr().out
    payload = json.loads(text)
    assert payload["duration"] == 3.0 and payload["frame_times"] == [0.36, 1.12, 1.84, 2.6]
    assert '"frame_times": [\n    0.36,\n    1.12,\n    1.84,\n    2.6\n  ]' in text  # printed as such
    assert payload["answer"] == FORCED_ANSWER
    assert len(payload["events"]) == 1
    event = payload["events"][0]
    score = event.pop("score")
    assert event == FORCED_EVENT and 0 < score < 1
    assert len(list(cache.rglob("*.safetensors"))) == 2  # the extractors' outputs and the pixels were cached
    # the second run reads the cache (the video is only probed): the same clean times and the same answer
    assert main(command) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["frame_times"] == payload["frame_times"] and again["events"][0]["start"] == 1.0
    assert again["events"][0]["score"] == pytest.approx(score)


def test_table_output(model_folder, video, capsys, forced_answer):
    assert main(["analyze", str(video), "--model", str(model_folder), "--num-frames", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{video}: 3.0 s, frames at 0.5, 1.5, 2.5 s"
    assert out[1].split() == ["start", "end", "subject", "event", "type", "object", "scene", "score"]
    assert set(out[2].replace(" ", "")) == {"-"}
    row = out[3].split()
    assert row[:6] == ["1.0", "3.0", "people", "Fighting", "none", "Street"] and 0 < float(row[6]) < 1
    assert len(out) == 4


def test_table_output_without_events(model_folder, video, capsys):
    # the random model's own answer: "No abnormal event." (or text without any event)
    assert main(["analyze", str(video), "--model", str(model_folder), "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "No abnormal event." and len(out) == 4


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
    assert main(["analyze", str(video), "--model", str(tmp_path)]) == 1  # a folder, but not a model
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        len(lines) == 1
        and "is not a Sherlock model (no config.json or processor_config.json, and no adapter_config.json" in lines[0]
    )


# What a `sherlock` process imports before it answers: run in a fresh interpreter, several commands in a row.
IMPORTS_SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from sherlock.cli import main

    report = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exit:
                code = exit.code
        heavy = [name for name in ("torch", "transformers", "numpy", "modeling_sherlock") if name in sys.modules]
        report.append({"argv": argv, "code": code, "err": err.getvalue(), "heavy": heavy})
    print(json.dumps(report))
    """
)


def run_in_fresh_python(script: str, args: list[str], env: dict | None = None, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_help_and_input_errors_answer_before_any_heavy_import(tmp_path):
    """`--help` and bad inputs need neither torch nor transformers (nor the model): the video is checked first."""
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17))
    text = make_text_as_mp4(tmp_path / "notes.mp4")
    cases = [
        (["--help"], 0, None),
        (["analyze", "--help"], 0, None),
        (["analyze", str(tmp_path)], 2, "is a directory, not a video file"),
        (["analyze", str(image)], 2, "is an image, not a video (PNG)"),
        (["analyze", str(tmp_path / "missing.mp4")], 2, "no such file"),
        (["analyze", str(text)], 2, "contains text"),
        (["analyze", str(EXAMPLE_VIDEO), "--model", str(tmp_path / "no-model")], 1, "not found"),
    ]
    env = {"SHERLOCK_HOME": str(tmp_path / "home")}  # the default `--model demo` must not even be built
    result = run_in_fresh_python(IMPORTS_SCRIPT, [json.dumps([argv for argv, _, _ in cases])], env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for (argv, code, needle), outcome in zip(cases, report):
        assert outcome["argv"] == argv and outcome["code"] == code, outcome
        assert outcome["heavy"] == [], outcome  # nothing heavy was imported before the answer
        if needle is not None:
            lines = outcome["err"].strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("sherlock analyze: ") and needle in lines[0], outcome
    assert not (tmp_path / "home").exists()


def test_importing_the_processing_package_is_lazy():
    script = textwrap.dedent(
        """
        import sys
        import processing.video_check_sherlock
        light = [name for name in ("torch", "transformers", "numpy") if name in sys.modules]
        from processing import SherlockProcessor, VideoDecodeError
        from processing.video_sherlock import VideoDecodeError as same
        print(light, SherlockProcessor.__name__, VideoDecodeError is same, "torch" in sys.modules)
        """
    )
    result = run_in_fresh_python(script, [])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["[]", "SherlockProcessor", "True", "True"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "env, reason",
    [
        ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set"),
        ({"HF_ENDPOINT": "http://127.0.0.1:{port}", "HF_HUB_OFFLINE": "0"}, "Connection refused"),
    ],
)
def test_an_uncached_hub_id_without_the_hub_fails_fast_with_one_line(tmp_path, env, reason):
    env = {name: value.format(port=closed_port()) for name, value in env.items()}
    env.update(HF_HOME=str(tmp_path / "hf_home"), SHERLOCK_HUB_TIMEOUT="3")
    command = [sys.executable, "-m", "sherlock.cli", "analyze", str(EXAMPLE_VIDEO), "--model", "org/not-cached"]
    # the timeout guards against a hang; it is not a benchmark
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=20, cwd=REPO)
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "sherlock analyze: error: model 'org/not-cached' is not in the local cache and the Hub cannot be reached"
    )
    assert reason in lines[0]


def test_console_script_runs_the_demo_on_the_shipped_example(tmp_path):
    """The README's first command: the trained demo model is copied on first use, then reused, and names the example
    video's real event (`examples/demo.json`, the renderer's annotation): its type, with start and end within 1 s."""
    env_home = tmp_path / "home"
    command = [sys.executable, "-m", "sherlock.cli", "analyze", "--json", str(EXAMPLE_VIDEO)]
    result = subprocess.run(
        command,
        env={**__import__("os").environ, "SHERLOCK_HOME": str(env_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained on synthetic videos only" in result.stderr
    gold = json.loads(EXAMPLE_VIDEO.with_suffix(".json").read_text())
    (event,) = gold["events"]
    answer = json.loads(result.stdout)
    assert any(
        found["event_type"] == event["event_type"]
        and abs(found["start"] - event["start"]) <= 1.0
        and abs(found["end"] - event["end"]) <= 1.0
        for found in answer["events"]
    ), (answer["answer"], event)
    # the plain table of the README's first command names it too (the copied model is reused: no copy again)
    table = subprocess.run(
        command[:4] + command[5:],
        env={**__import__("os").environ, "SHERLOCK_HOME": str(env_home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert table.returncode == 0 and "Replacing" not in table.stderr, table.stderr[-2000:]
    assert table.stdout.splitlines()[0].startswith(f"{EXAMPLE_VIDEO}: {answer['duration']:.1f} s, frames at ")
    assert event["event_type"] in table.stdout and event["subject"] in table.stdout
    folder = env_home / default_demo_dir().name  # the folder the command copied the demo model to
    assert demo_problem(folder) is None
    assert (folder / "model.safetensors").is_file() and (folder / "processor_config.json").is_file()
    extractors = json.loads((folder / "processor_config.json").read_text())["extractors"]
    assert extractors["detector"]["model"] == "./extractor-detector"  # the demo folder travels too
    assert (folder / "extractor-detector" / "model.safetensors").is_file()


def test_a_cached_hub_id_is_used_from_the_cache_when_the_hub_cannot_be_reached(tmp_path):
    # a Hub cache entry as huggingface_hub writes it: refs/main -> snapshots/<commit>/
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf_home" / "hub" / "models--org--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    script = "from sherlock.loading import resolve_model; print(resolve_model('org/cached'))"
    for env in ({"HF_HUB_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}):
        env.update(HF_HOME=str(tmp_path / "hf_home"), SHERLOCK_HUB_TIMEOUT="3")
        result = run_in_fresh_python(script, [], env, timeout=20)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == str(snapshot)


def test_dataclass_arguments_handle_true_defaults_and_factories():
    import argparse
    from dataclasses import dataclass, field

    from sherlock.arguments import add_dataclass_arguments

    @dataclass
    class Arguments:
        name: str = field(metadata={"help": "a name"})
        cache: bool = True
        tags: list[str] | None = field(default_factory=lambda: ["a"])
        quiet: bool = False

    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, Arguments)
    assert vars(parser.parse_args(["--name", "x"])) == {"name": "x", "cache": True, "tags": ["a"], "quiet": False}
    parsed = vars(parser.parse_args(["--name", "x", "--no-cache", "--quiet"]))
    assert parsed["cache"] is False and parsed["quiet"] is True
