"""`sherlock evaluate --model`: batched, resumable, sharded model runs (the runner), with a fake predictor for the
exact bookkeeping and the tiny demo model end to end (a killed run resumed; `accelerate launch` with 2 processes)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from dataset_scripts.build_synthetic import SyntheticArguments
from dataset_scripts.synthetic_build import build_synthetic
from processing import AbnormalEvent
from sherlock.cli import main
from sherlock.demo import ensure_demo_model
from sherlock.evaluation import runner
from sherlock.evaluation.predictors import VideoItem, VideoPrediction, add_time
from sherlock.evaluation.runner import RunConfigMismatch, batches_of, read_done, repair_tail, run_predictions


REPO = Path(__file__).resolve().parents[1]
REPORT_FILES = (
    "predictions.jsonl",
    "run_config.json",
    "metrics.json",
    "per_video.json",
    "report.md",
    "per_scene_fnr.png",
    "gate_weights.csv",
    "gate_weights.png",
    "run_summary.json",
)


class BatchEcho:
    """A predictor whose answer names the video's whole batch: it changes if a video lands in another batch."""

    def __init__(self, fail_after: int | None = None):
        self.calls = []
        self.fail_after = fail_after

    def settings(self):
        return {"kind": "echo"}

    def predict(self, videos, timings):
        if self.fail_after is not None and len(self.calls) == self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls.append([video.video_id for video in videos])
        add_time(timings, "generate", 0.5)
        batch = "+".join(video.video_id for video in videos)
        return [
            VideoPrediction(
                answer=f"{video.video_id} in {batch}",
                events=[AbnormalEvent(1.0, 2.0, "man", "Fighting", "none", "Street", score=0.5)],
                gate_weights={"action": 0.5, "global": 0.5},
            )
            for video in videos
        ]


class ThreadedProcesses:
    """`world` threads standing in for the processes of `accelerate launch`: a real barrier, a real gather."""

    def __init__(self, world: int):
        self.world = world
        self.barrier = threading.Barrier(world, timeout=30)
        self.gathered = {}

    def state(self, rank: int):
        processes = self

        class State:
            process_index, num_processes, is_main_process = rank, processes.world, rank == 0

            def wait_for_everyone(self):
                processes.barrier.wait()

        return State()

    def gather(self, state, value):
        self.gathered[state.process_index] = value
        self.barrier.wait()
        return [self.gathered[rank] for rank in range(self.world)]

    def run(self, target):
        """`target(rank)` in every thread; returns the results by rank (re-raises the first error)."""
        results, errors = {}, []

        def work(rank):
            try:
                results[rank] = target(rank)
            except BaseException as error:  # noqa: B036 - reported to the test below
                errors.append(error)
                self.barrier.abort()

        threads = [threading.Thread(target=work, args=(rank,)) for rank in range(self.world)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return results


ITEMS = [VideoItem(f"v{i}", f"/videos/v{i}.mp4") for i in range(7)]


def _run(folder, predictor=None, **kwargs):
    return run_predictions(predictor or BatchEcho(), ITEMS, folder, progress=False, **kwargs)


def test_batches_are_consecutive_and_cover_every_video():
    assert [[v.video_id for v in b] for b in batches_of(ITEMS, 3)] == [["v0", "v1", "v2"], ["v3", "v4", "v5"], ["v6"]]
    with pytest.raises(ValueError, match="batch_size"):
        batches_of(ITEMS, 0)


def test_one_process_writes_every_video_in_dataset_order(tmp_path):
    summary = _run(tmp_path, batch_size=3)
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["video_id"] for line in lines] == [item.video_id for item in ITEMS]
    assert json.loads(lines[4])["answer"] == "v4 in v3+v4+v5"
    assert json.loads(lines[0])["gate_weights"] == {"action": 0.5, "global": 0.5}
    assert summary["predicted"] == 7 and summary["resumed"] == 0 and summary["timings"]["generate"] == 1.5
    assert not list(tmp_path.glob("predictions.part-*"))
    config = json.loads((tmp_path / "run_config.json").read_text())
    assert config == {"batch_size": 3, "predictor": {"kind": "echo"}, "videos": 7}


def test_shards_merge_to_the_one_process_predictions(tmp_path, monkeypatch):
    _run(tmp_path / "one", batch_size=2)
    processes = ThreadedProcesses(3)
    monkeypatch.setattr(runner, "gather", processes.gather)
    predictors = [BatchEcho() for _ in range(3)]
    summaries = processes.run(
        lambda rank: _run(tmp_path / "three", predictor=predictors[rank], batch_size=2, state=processes.state(rank))
    )
    # batches [v0 v1] [v2 v3] [v4 v5] [v6]: batch b runs on process b % 3
    assert [p.calls for p in predictors] == [[["v0", "v1"], ["v6"]], [["v2", "v3"]], [["v4", "v5"]]]
    assert (tmp_path / "three" / "predictions.jsonl").read_bytes() == (
        tmp_path / "one" / "predictions.jsonl"
    ).read_bytes()
    assert all(summary["predicted"] == 7 and summary["processes"] == 3 for summary in summaries.values())
    assert not list((tmp_path / "three").glob("predictions.part-*"))


def test_a_killed_run_resumes_with_the_same_batches(tmp_path):
    _run(tmp_path / "full", batch_size=3)
    folder = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        _run(folder, predictor=BatchEcho(fail_after=1), batch_size=3)
    part = folder / "predictions.part-00000.jsonl"
    assert len(part.read_text().splitlines()) == 3
    # a kill in the middle of the next write: the first line of the batch complete, the second cut off
    with part.open("a") as handle:
        handle.write('{"answer": "v3 in v3+v4+v5", "events": [], "video_id": "v3"}\n{"answer": "v4 in')
    resumed = BatchEcho()
    summary = _run(folder, predictor=resumed, batch_size=3)
    assert resumed.calls == [["v3", "v4", "v5"], ["v6"]]  # the cut batch re-runs whole, the first is skipped
    assert summary["resumed"] == 4 and summary["predicted"] == 3
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    full = (tmp_path / "full" / "predictions.jsonl").read_text().splitlines()
    assert lines[:3] == full[:3] and lines[4:] == full[4:]
    assert lines[3] == '{"answer": "v3 in v3+v4+v5", "events": [], "video_id": "v3"}'  # the line written before


def test_another_configuration_is_refused_and_overwrite_starts_afresh(tmp_path):
    _run(tmp_path, batch_size=3)
    with pytest.raises(RunConfigMismatch, match="different batch_size"):
        _run(tmp_path, batch_size=2)
    again = BatchEcho()
    _run(tmp_path, predictor=again, batch_size=2, overwrite=True)
    assert len(again.calls) == 4
    stray = tmp_path / "other"
    stray.mkdir()
    (stray / "predictions.jsonl").write_text("")
    with pytest.raises(RunConfigMismatch, match="without run_config.json"):
        _run(stray)


def test_repair_tail_drops_only_a_partial_last_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"video_id": "a"}\n{"video_id": "b"}\n{"vid')
    assert repair_tail(path) and path.read_text() == '{"video_id": "a"}\n{"video_id": "b"}\n'
    assert not repair_tail(path) and list(read_done(tmp_path)) == []  # p.jsonl is not a prediction file name
    (tmp_path / "predictions.jsonl").write_text('{"video_id": "a"}\nnot json\n')
    with pytest.raises(ValueError, match="predictions.jsonl, line 2"):
        read_done(tmp_path)


# --- the tiny demo model end to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    args = SyntheticArguments(
        output_dir=str(folder), seed=5, num_videos=10, num_frames=4, duration=4.0, size="96x64", num_workers=1
    )
    build_synthetic(args)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return ensure_demo_model(tmp_path_factory.mktemp("demo") / "model")


def _evaluate_argv(synthetic, model_dir, output, *extra):
    return [
        "evaluate",
        "--dataset",
        str(synthetic),
        "--split",
        "train",
        "--model",
        str(model_dir),
        "--output-dir",
        str(output),
        "--batch-size",
        "2",
        "--max-new-tokens",
        "24",
        *extra,
    ]


def _environment(**extra):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def uninterrupted(synthetic, model_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "uninterrupted"
    assert main(_evaluate_argv(synthetic, model_dir, output)) == 0
    return output


def test_a_model_run_writes_every_report_file(uninterrupted):
    for name in REPORT_FILES:
        assert (uninterrupted / name).is_file(), name
    assert list((uninterrupted / "timelines").glob("*.png"))
    lines = (uninterrupted / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(set(r["gate_weights"]) == {"action", "object_relation", "background", "global"} for r in records)
    assert all(abs(sum(r["gate_weights"].values()) - 1.0) < 1e-4 for r in records)
    summary = json.loads((uninterrupted / "run_summary.json").read_text())
    assert summary["predicted"] == len(records) and summary["processes"] == 1 and summary["videos_per_second"] > 0
    assert set(summary["phase_share"]) == {"decode", "extract", "preprocess", "generate", "parse", "score"}


def test_a_killed_model_run_restarts_where_it_stopped(synthetic, model_dir, uninterrupted, tmp_path):
    output = tmp_path / "killed"
    command = [sys.executable, "-m", "sherlock.cli", *_evaluate_argv(synthetic, model_dir, output)]
    process = subprocess.Popen(
        command, cwd=REPO, env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    part = output / "predictions.part-00000.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if part.is_file() and part.read_text().count("\n") >= 2:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = part.read_text().count("\n")
    total = len((uninterrupted / "predictions.jsonl").read_text().splitlines())
    assert 2 <= done < total and not (output / "predictions.jsonl").exists(), (done, process.stderr.read()[-2000:])
    assert main(_evaluate_argv(synthetic, model_dir, output)) == 0
    assert (output / "predictions.jsonl").read_bytes() == (uninterrupted / "predictions.jsonl").read_bytes()
    assert json.loads((output / "run_summary.json").read_text())["resumed"] == done


def _accelerate(arguments, timeout=300):
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "sherlock.cli", *arguments,
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=_environment(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_without_model_or_predictions_the_demo_model_is_evaluated(synthetic, tmp_path, monkeypatch):
    """`sherlock evaluate --dataset D` runs the built-in demo model, as `sherlock analyze` does without --model."""
    from sherlock.cli import main

    monkeypatch.setenv("SHERLOCK_HOME", str(tmp_path / "home"))
    output = tmp_path / "run"
    assert main(["evaluate", "--dataset", str(synthetic), "--split", "train", "--output-dir", str(output)]) == 0
    assert "demo" in (output / "report.md").read_text().split("\n\n")[1]  # the report's run line names it
    from sherlock.demo import default_demo_dir

    assert (default_demo_dir() / "model.safetensors").is_file()  # the demo was copied there and run
    predictions = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 8 and all("answer" in line for line in predictions)


def test_two_processes_under_accelerate_give_the_one_process_predictions(
    synthetic, model_dir, uninterrupted, tmp_path
):
    output = tmp_path / "two"
    result = _accelerate(_evaluate_argv(synthetic, model_dir, output))
    assert "with 2 process(es)" in result.stdout
    assert (output / "predictions.jsonl").read_bytes() == (uninterrupted / "predictions.jsonl").read_bytes()
    assert (output / "metrics.json").read_bytes() == (uninterrupted / "metrics.json").read_bytes()


def _cache_files(folder: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".json":  # manifests: everything but when the entry was written
                manifest = json.loads(data)
                manifest.pop("created", None)
                data = json.dumps(manifest, sort_keys=True).encode()
            files[str(path.relative_to(folder))] = data
    return files


def test_precompute_fills_the_same_cache_with_one_or_two_processes(synthetic, model_dir, tmp_path, capsys):
    base = ["precompute", "--dataset", str(synthetic), "--processor", str(model_dir)]
    # the processes below run with OMP_NUM_THREADS=1; so must this one, or float reductions in the extractors may
    # differ in the last bit (the caches are compared byte for byte)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*base, "--cache-dir", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert "10 computed, 0 already in" in capsys.readouterr().out
    result = _accelerate([*base, "--cache-dir", str(tmp_path / "two")])
    assert "with 2 process(es)" in result.stdout and "10 computed" in result.stdout
    one, two = _cache_files(tmp_path / "one"), _cache_files(tmp_path / "two")
    assert len(one) == 20 and one == two  # 10 videos: a safetensors file and a manifest each
    assert main([*base, "--cache-dir", str(tmp_path / "one")]) == 0
    assert "0 computed, 10 already in" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["video_llava", "llava_onevision", "qwen2_vl", "qwen2_5_vl"])
def test_baseline_video_llms_run_through_sherlock_evaluate(family, synthetic, tmp_path):
    from sherlock.evaluation import tiny_baselines

    build = getattr(tiny_baselines, f"build_tiny_{family}")
    model = build(tmp_path / family)
    output = tmp_path / "run"
    assert main(_evaluate_argv(synthetic, model, output)) == 0
    config = json.loads((output / "run_config.json").read_text())
    assert config["predictor"]["kind"] == "video_llm" and config["predictor"]["model_type"] == family
    records = [json.loads(line) for line in (output / "predictions.jsonl").read_text().splitlines()]
    train_rows = json.loads((output / "metrics.json").read_text())["details"]["counts"]["videos"]
    assert len(records) == train_rows and all("gate_weights" not in record for record in records)
    for name in ("metrics.json", "per_video.json", "report.md", "per_scene_fnr.png"):
        assert (output / name).is_file(), name
    assert not (output / "gate_weights.csv").exists()  # no gate: no Figure 6


def test_a_dataset_folder_rebuilt_in_place_is_read_fresh(tmp_path):
    """`datasets` keys its cache of a local folder on the folder's name and card: the rows must come from the files."""
    from sherlock.evaluation.dataset import load_split_rows

    folder = tmp_path / "synthetic"
    counts = []
    for videos in (5, 10):
        args = SyntheticArguments(
            output_dir=str(folder), seed=1, num_videos=videos, num_frames=2, duration=4.0, size="64x48", num_workers=1
        )
        summary = build_synthetic(args)
        counts.append((summary["splits"]["train"], len(load_split_rows(str(folder), "train"))))
    assert counts[0][0] != counts[1][0] and all(built == read for built, read in counts), counts


# --- the Sherlock predictor ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_videos(tmp_path_factory):
    """Two 16-frame videos and one of 4 frames (fewer than the 8 the processor samples)."""
    from video_factory import write_video

    folder = tmp_path_factory.mktemp("mixed")
    paths = [write_video(folder / f"{name}.mp4", num_frames=n) for name, n in (("a", 16), ("short", 4), ("b", 16))]
    return [VideoItem(Path(path).stem, str(path)) for path in paths]


def _predictor(model_dir, tmp_path, **config):
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor
    from sherlock.evaluation.sherlock_predictor import SherlockPredictor

    processor = SherlockProcessor.from_pretrained(model_dir)
    processor.feature_cache_dir = str(tmp_path / "cache")
    model = SherlockForConditionalGeneration.from_pretrained(model_dir, **config).eval()
    return SherlockPredictor(model, processor, max_new_tokens=12)


def test_a_batch_with_a_short_video_is_generated_by_frame_count(model_dir, mixed_videos, tmp_path):
    predictor = _predictor(model_dir, tmp_path)
    timings = {}
    batch = predictor.predict(mixed_videos, timings)
    single = [predictor.predict([video], {})[0] for video in mixed_videos]
    pairs = predictor.predict([mixed_videos[0], mixed_videos[2]], {})
    assert [p.answer for p in batch] == [pairs[0].answer, single[1].answer, pairs[1].answer]
    assert batch[1].gate_weights == single[1].gate_weights
    assert {"decode", "extract", "preprocess", "generate", "parse"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values())
    warm = {}
    predictor.predict(mixed_videos, warm)  # every feature from the cache now: reading it is extraction time
    assert warm["extract"] > 0 and warm["preprocess"] >= 0


def test_a_model_without_gate_reports_no_gate_weights(model_dir, mixed_videos, tmp_path):
    predictor = _predictor(model_dir, tmp_path, gate="uniform")
    assert [p.gate_weights for p in predictor.predict(mixed_videos[:1], {})] == [None]


def test_events_keep_generation_order_for_tied_scores():
    from sherlock.evaluation.predictors import scored_events
    from sherlock.tiny_models import train_tokenizer

    tokenizer = train_tokenizer()
    answer = "5.0-6.0s: (man, Fighting, man, Street)\n1.0-2.0s: (car, Accidents, car, Road)"
    ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    events = scored_events(ids, [-0.5] * len(ids), tokenizer, duration=10.0)
    assert [(e.start, e.event_type) for e in events] == [(5.0, "Fighting"), (1.0, "Accidents")]
    assert events[0].score == events[1].score  # equal token probabilities: the tie keeps the generated order


# --- command-line checks before anything runs --------------------------------------------------------------------


def test_mistakes_are_refused_before_the_model_runs(synthetic, model_dir, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    output = tmp_path / "never"
    cases = [
        (["--judge", "bogus"], "Unknown judge 'bogus'"),
        (["--judge", "llm:http://127.0.0.1:9/v1"], "needs a model name"),
        (["--compare", str(tmp_path)], "is not a run folder (no metrics.json)"),
        (["--device", "cuda"], "this machine has no CUDA device"),
        (["--dtype", "float8"], "--dtype must be one of"),
    ]
    monkeypatch.delenv("SHERLOCK_JUDGE_MODEL", raising=False)
    for extra, needle in cases:
        assert main(_evaluate_argv(synthetic, model_dir, output, *extra)) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
        assert not output.exists()


def test_a_reused_output_folder_keeps_no_stale_files(synthetic, uninterrupted, tmp_path):
    predictions = tmp_path / "plain.jsonl"
    lines = (uninterrupted / "predictions.jsonl").read_text().splitlines()
    predictions.write_text("".join(json.dumps({**json.loads(line), "gate_weights": None}) + "\n" for line in lines))
    output = tmp_path / "reused"
    output.mkdir()
    for name in ("gate_weights.csv", "gate_weights.png", "run_summary.json", "comparison.json"):
        (output / name).write_text("stale")
    argv = ["evaluate", "--dataset", str(synthetic), "--split", "train", "--predictions", str(predictions)]
    assert main([*argv, "--output-dir", str(output)]) == 0
    assert sorted(path.name for path in output.iterdir() if path.suffix in (".csv", ".json", ".png")) == [
        "metrics.json",
        "per_scene_fnr.png",
        "per_video.json",
    ]


def test_extractors_move_to_a_device_without_changing_their_cache_ids(model_dir):
    from processing import SherlockProcessor

    processor = SherlockProcessor.from_pretrained(model_dir)
    before = processor.extractor_set.extractor_ids()
    processor.set_extractor_device("cpu")
    devices = {part: settings.get("device") for part, settings in processor.extractors.items()}
    assert devices == {"detector": "cpu", "pose": "cpu", "objects": None, "background": "cpu"}
    assert processor.extractor_set.extractor_ids() == before  # the same cache entries on any GPU
