"""Every command checks its options before it loads anything: one line per refusal (`sherlock <command>: error:
...`, exit 2), the same for every command; Ctrl-C ends any command with one line and exit 130; an unreachable Hub
dataset is one line, not a minute of retry warnings."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import sherlock.analyze_command
import sherlock.cli
import sherlock.evaluation.dataset
import sherlock.loading
from sherlock.cli import main
from sherlock.demo import EXAMPLE_VIDEO


REPO = Path(__file__).resolve().parents[1]


def _no_cuda_device() -> str:
    """A CUDA device this machine does not have: `cuda` without a GPU, else a GPU index past the last."""
    import torch

    return "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fail the test if a model, a processor or a dataset is loaded (or a model / dataset is even looked up)."""

    def refuse(*args, **kwargs):
        raise AssertionError("loaded something before the options were checked")

    for module, name in [
        (sherlock.analyze_command, "load_sherlock"),
        (sherlock.analyze_command, "resolve_model"),
        (sherlock.loading, "load_sherlock"),
        (sherlock.loading, "load_model"),
        (sherlock.loading, "resolve_model"),
        (sherlock.loading, "resolve_dataset"),
    ]:
        monkeypatch.setattr(module, name, refuse, raising=False)
    monkeypatch.setattr(sherlock.evaluation.dataset, "load_split_rows", refuse)


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


ANALYZE = ["analyze", str(EXAMPLE_VIDEO), "--model", "demo"]
CASES = [
    (["--num-frames", "0"], "--num-frames must be between 1 and 256, got 0"),
    (["--num-frames", "100000"], "--num-frames must be between 1 and 256, got 100000"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be between 1 and 4096, got 0"),
    (["--max-new-tokens", "100000"], "--max-new-tokens must be between 1 and 4096"),
    (["--fps", "0"], "--fps must be a positive number"),
    (["--fps", "-2"], "--fps must be a positive number"),
    (["--fps", "inf"], "--fps must be a positive number"),
    (["--fps", "2", "--num-frames", "4"], "give --num-frames or --fps, not both"),
    (["--device", "banana"], "--device 'banana' is not a device"),
    (["--device", "cuda:x"], "is not a device"),
    (["--cache-dir", str(EXAMPLE_VIDEO)], "is a file, not a folder"),
]


@pytest.mark.parametrize("extra, needle", CASES)
def test_analyze_refuses_bad_options_in_one_line_before_loading_anything(extra, needle, nothing_loads, capsys):
    assert main([*ANALYZE, *extra]) == 2
    line = _one_line(capsys)
    assert line.startswith("sherlock analyze: error: ") and needle in line, line


def test_a_missing_accelerator_is_one_line_for_every_command(nothing_loads, capsys, tmp_path):
    device = _no_cuda_device()
    commands = {
        "analyze": ANALYZE,
        "evaluate": ["evaluate", "--dataset", "org/x", "--model", "demo", "--output-dir", str(tmp_path / "e")],
        "precompute": ["precompute", "--dataset", "org/x", "--processor", "demo"],
    }
    for name, argv in commands.items():
        assert main([*argv, "--device", device]) == 2, name
        line = _one_line(capsys)
        assert line.startswith(f"sherlock {name}: error: --device {device}: this machine has "), line


def test_the_frame_count_is_bounded_for_every_command(nothing_loads, capsys, tmp_path):
    commands = {
        "evaluate": ["evaluate", "--dataset", "org/x", "--model", "demo", "--output-dir", str(tmp_path / "e")],
        "train": ["train", "--dataset", "org/x", "--model", "demo", "--output-dir", str(tmp_path / "t")],
    }
    for name, argv in commands.items():
        assert main([*argv, "--num-frames", "100000"]) == 2, name
        assert _one_line(capsys) == f"sherlock {name}: error: --num-frames must be between 1 and 256, got 100000"


def test_an_fps_giving_too_many_frames_is_refused_before_the_model_loads(monkeypatch, capsys, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("the model loaded")

    monkeypatch.setattr(sherlock.analyze_command, "load_sherlock", refuse)
    monkeypatch.setattr(sherlock.analyze_command, "resolve_model", lambda model: model)
    from video_factory import write_video

    video = write_video(tmp_path / "fast.mp4", num_frames=300, fps=60.0, size=(64, 48))  # 5 s at 60 frames per second
    assert main(["analyze", str(video), "--fps", "60"]) == 2
    line = _one_line(capsys)
    assert line.startswith("sherlock analyze: error: --fps 60 samples 300 frames of this 5.0 s video, more than 256")


@pytest.mark.parametrize("command", ["analyze", "evaluate", "precompute", "train", "push"])
def test_ctrl_c_ends_every_command_with_one_line_and_exit_130(command, monkeypatch, capsys, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sherlock.cli, f"{command}_command", interrupted)
    argv = {
        "analyze": ANALYZE,
        "evaluate": ["evaluate", "--dataset", "d", "--model", "demo", "--output-dir", str(tmp_path)],
        "precompute": ["precompute", "--dataset", "d", "--processor", "demo"],
        "train": ["train", "--dataset", "d", "--model", "demo", "--output-dir", str(tmp_path)],
        "push": ["push", "model", str(tmp_path), "org/name"],
    }[command]
    try:
        code = main(argv)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped `main` (a traceback for the user)")
    assert code == 130
    assert _one_line(capsys) == f"sherlock {command}: interrupted"


SIGINT_SCRIPT = textwrap.dedent(
    """
    import signal, sys, time
    # Ctrl-C as in a terminal: a shell that starts a job in the background (`make test &`) makes it ignore SIGINT, and
    # Python then keeps ignoring it; this test is about what the CLI does with the interrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import sherlock.analyze_command as command
    from sherlock.cli import main

    def slow_load(*args, **kwargs):
        print("loading", flush=True)
        time.sleep(60)

    command.resolve_model = lambda model: model
    command.load_sherlock = slow_load
    sys.exit(main(["analyze", sys.argv[1]]))
    """
)


def test_a_real_ctrl_c_while_the_model_loads_is_one_line_and_exit_130():
    process = subprocess.Popen(
        [sys.executable, "-c", SIGINT_SCRIPT, str(EXAMPLE_VIDEO)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "loading"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert err.strip().splitlines() == ["sherlock analyze: interrupted"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_an_unreachable_hub_dataset_is_one_line(command, tmp_path):
    env = {
        **os.environ,
        "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(tmp_path / "hf_home"),
        "SHERLOCK_HOME": str(tmp_path / "home"),
        "SHERLOCK_HUB_TIMEOUT": "3",
    }
    (tmp_path / "p.jsonl").write_text("")
    argv = {
        "evaluate": ["--predictions", str(tmp_path / "p.jsonl"), "--output-dir", str(tmp_path / "e")],
        "train": ["--model", "demo", "--without", "pretune", "--output-dir", str(tmp_path / "t")],
    }[command]
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sherlock.cli", command, "--dataset", "org/not-cached", *argv],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if "demo model" not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"sherlock {command}: error: dataset 'org/not-cached' is not in the local cache and the Hub cannot be reached"
    )
    assert time.monotonic() - started < 60  # no minute of retries (a guard, not a benchmark)


def test_a_cached_hub_dataset_is_read_from_the_cache_when_the_hub_cannot_be_reached(tmp_path):
    import datasets

    # a Hub cache entry as huggingface_hub writes it: refs/main -> snapshots/<commit>/ with the dataset's parquet
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf_home" / "hub" / "datasets--org--cached"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    (snapshot / "data").mkdir(parents=True)
    rows = [{"video_id": "v1", "video": "v1.mp4", "events": [{"event_type": "Theft"}]}]
    datasets.Dataset.from_list(rows).to_parquet(str(snapshot / "data" / "test-00000-of-00001.parquet"))
    script = "from sherlock.evaluation.dataset import load_split_rows; print(load_split_rows('org/cached', 'test'))"
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
        "SHERLOCK_HUB_TIMEOUT": "3",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'video_id': 'v1'" in result.stdout
    assert result.stderr.strip().splitlines() == ["The Hub cannot be reached: using the cached copy of org/cached"], (
        result.stderr
    )
