"""`sherlock evaluate`: prediction files, the one-call scoring of a split, byte-stable metric files and the CLI."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sherlock.cli import main
from sherlock.evaluation.events import EvalEvent
from sherlock.evaluation.predictions import SKIP_REASONS, read_predictions, write_predictions_line
from sherlock.evaluation.scoring import per_video_scores, score, write_metrics


REPO = Path(__file__).resolve().parents[1]


def event(start, end, subject, event_type, obj, scene):
    return {"start": start, "end": end, "subject": subject, "event_type": event_type, "object": obj, "scene": scene}


ROWS = [
    {
        "video_id": "v1",
        "video": "v1.mp4",
        "duration": 10.0,
        "split": "test",
        "events": [event(1.0, 4.0, "Person", "Fighting", "Person", "Street")],
    },
    {
        "video_id": "v2",
        "video": "v2.mp4",
        "duration": 8.0,
        "split": "test",
        "events": [
            event(0.5, 2.0, "Car", "Accidents", "Car", "Road"),
            event(5.0, 7.5, "Person", "Vandalism", "Car", "Road"),
        ],
    },
    {
        "video_id": "v3",
        "video": "v3.mp4",
        "duration": None,  # unknown: inferred from the last event end
        "split": "test",
        "events": [event(2.0, 6.0, "Dog", "Animals", "Person", "Shop")],
    },
    {"video_id": "v4", "video": "v4.mp4", "duration": 5.0, "split": "test", "events": []},
]

REQUIRED_KEYS = (
    [f"extraction.single.{t}" for t in ("subject", "event_type", "object", "scene")]
    + [f"extraction.pair.{t}" for t in ("subject_type", "object_type", "subject_scene", "object_scene")]
    + ["extraction.quadruple"]
    + [f"localization.{k}" for k in ("map@0.1", "map@0.2", "map@0.3", "map_mean")]
    + ["classification.fnr", "classification.f2"]
    + [f"classification.per_scene_fnr.{scene}" for scene in ("Street", "Road", "Shop")]
)


def get(metrics, dotted):
    """`metrics["a"]["b"]...`; keys such as "map@0.1" contain dots, so try the longest key first."""
    node, rest = metrics, dotted
    while rest:
        for key in sorted(node, key=len, reverse=True):
            if rest == key or rest.startswith(key + "."):
                node, rest = node[key], rest[len(key) + 1 :]
                break
        else:
            raise KeyError(dotted)
    return node


def perfect_predictions():
    return {row["video_id"]: [dict(e, score=0.9) for e in row["events"]] for row in ROWS}


def write_jsonl(path: Path, predictions: dict) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for video_id, events in predictions.items():
            write_predictions_line(handle, video_id, "an answer", events)
    return path


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    import datasets

    from dataset_scripts.mvae_schema import EVENT_FEATURES

    features = datasets.Features(
        {
            "video_id": datasets.Value("string"),
            "video": datasets.Value("string"),
            "duration": datasets.Value("float64"),
            "split": datasets.Value("string"),
            "events": datasets.List(EVENT_FEATURES),
        }
    )
    root = tmp_path_factory.mktemp("mvae")
    (root / "data").mkdir()
    datasets.Dataset.from_list(ROWS, features=features).to_parquet(str(root / "data" / "test-00000-of-00001.parquet"))
    return root


# --- scoring -----------------------------------------------------------------------------------------------------


def test_perfect_predictions_score_one_and_fnr_zero():
    metrics = score(ROWS, perfect_predictions())
    for key in REQUIRED_KEYS:
        value = get(metrics, key)
        assert type(value) is float
        assert value == (0.0 if "fnr" in key else 1.0), key
    assert metrics["details"]["counts"] == {
        "videos": 4,
        "videos_with_prediction": 4,
        "gold_events": 4,
        "predicted_events": 4,
        "durations_inferred": 1,
    }
    assert metrics["details"]["extraction"]["quadruple"]["micro_f1"] == 1.0
    assert metrics["details"]["localization"]["class_agnostic"]["map_mean"] == 1.0
    per_video = per_video_scores(ROWS, perfect_predictions())
    assert per_video["v1"] == {"quadruple_f1": 1.0, "localization_f1@0.3": 1.0, "f2": 1.0}
    assert per_video["v4"] == {"quadruple_f1": 1.0, "localization_f1@0.3": 1.0, "f2": None}  # nothing to find


def test_empty_predictions_score_zero_and_fnr_one():
    for predictions in ({}, {row["video_id"]: [] for row in ROWS}):
        metrics = score(ROWS, predictions)
        for key in REQUIRED_KEYS:
            assert get(metrics, key) == (1.0 if "fnr" in key else 0.0), key
        per_video = per_video_scores(ROWS, predictions)
        assert per_video["v2"] == {"quadruple_f1": 0.0, "localization_f1@0.3": 0.0, "f2": 0.0}


def test_partial_predictions_and_inferred_duration():
    predictions = perfect_predictions()
    predictions["v2"] = predictions["v2"][:1]  # miss the vandalism
    predictions["v3"] = [dict(predictions["v3"][0], end=9.0, scene="Street")]  # wrong scene, longer span
    metrics = score(ROWS, predictions)
    # quadruple classes: 4 gold + the wrong-scene v3 one; F1 1, 1, 0 (missed), 0 and 0 (v3 gold / predicted):
    # the macro F1 (the paper's) is 2/5, the micro F1 2·2 / (3 + 4) = 4/7 stays in the details
    assert metrics["extraction"]["quadruple"] == pytest.approx(0.4)
    assert metrics["details"]["extraction"]["quadruple"]["micro_f1"] == pytest.approx(4 / 7)
    assert 0.0 < metrics["classification"]["fnr"] < 1.0
    assert metrics["details"]["classification"]["frames"] == (10 + 8 + 9 + 5) * 8  # v3: 9.0 s, the predicted end
    assert metrics["classification"]["per_scene_fnr"]["Road"] > 0.0
    with pytest.raises(ValueError, match="not in the gold rows.*'v9'"):
        score(ROWS, {"v9": []})
    with pytest.raises(ValueError, match="duplicate video id 'v1'"):
        score([*ROWS, ROWS[0]], {})


def test_metrics_file_is_byte_identical(tmp_path):
    predictions = perfect_predictions()
    predictions["v2"] = [dict(e, start=e["start"] + 0.1 / 3) for e in predictions["v2"]]  # long floats
    first = write_metrics(tmp_path / "a.json", score(ROWS, predictions)).read_bytes()
    second = write_metrics(tmp_path / "b.json", score(list(ROWS), dict(predictions))).read_bytes()
    assert first == second
    payload = json.loads(first)
    for key in REQUIRED_KEYS:
        assert isinstance(get(payload, key), float)
    assert list(payload) == sorted(payload)
    assert all(len(repr(x).split(".")[-1]) <= 6 for x in payload["details"]["per_second"].values() if type(x) is float)


# --- prediction files --------------------------------------------------------------------------------------------

GOOD = json.dumps({"video_id": "v1", "events": [event(1.0, 4.0, "Person", "Fighting", "Person", "Street")]})
MALFORMED = [
    ("bad_json", '{"video_id": "v2", "events": [', "bad JSON"),
    ("bad_json", '{"video_id": "v2", "events": [{"start": NaN}]}', "bad JSON"),
    ("not_an_object", '["v2"]', "not a JSON object"),
    ("missing_video_id", '{"events": []}', "no `video_id`"),
    ("bad_video_id", '{"video_id": 2, "events": []}', "non-empty string"),
    ("unknown_video_id", '{"video_id": "v9", "events": []}', "unknown video id 'v9'"),
    ("duplicate_video_id", '{"video_id": "v1", "events": []}', "duplicate video id 'v1'"),
    ("missing_events", '{"video_id": "v2", "answer": "x"}', "no `events`"),
    ("bad_answer", '{"video_id": "v2", "answer": 3, "events": []}', "`answer`"),
    ("bad_event", '{"video_id": "v2", "events": {"start": 1}}', "must be a list"),
    ("bad_event", '{"video_id": "v2", "events": ["x"]}', "event 0 is not a JSON object"),
    ("bad_event", '{"video_id": "v2", "events": [{"start": "1"}]}', "`start` must be a number"),
    ("bad_event", '{"video_id": "v2", "events": [{"start": 3, "end": 1}]}', "is before `start`"),
    ("bad_event", '{"video_id": "v2", "events": [{"start": -1, "end": 1}]}', "`start` must be >= 0"),
    ("bad_event", '{"video_id": "v2", "events": [{"scene": 5}]}', "`scene` must be a string"),
    ("bad_event", '{"video_id": "v2", "events": [{"event-type": "Fighting"}]}', "unknown key(s) 'event-type'"),
]


@pytest.mark.parametrize("reason, line, needle", MALFORMED, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(MALFORMED)])
def test_each_malformed_line_names_its_line_number(tmp_path, reason, line, needle):
    path = tmp_path / "predictions.jsonl"
    path.write_text(f"{GOOD}\n\n{line}\n", encoding="utf-8")  # line 2 is blank: the bad one is line 3
    with pytest.raises(ValueError, match=r"predictions\.jsonl, line 3: ") as caught:
        read_predictions(path, ["v1", "v2"])
    assert needle in str(caught.value)
    predictions, report = read_predictions(path, ["v1", "v2"], lenient=True)
    assert list(predictions) == ["v1"] and predictions["v1"][0].event_type == "Fighting"
    assert report["skipped"] == {reason: 1} and reason in SKIP_REASONS
    assert report["lines"] == 2 and report["videos"] == 1 and report["videos_without_prediction"] == 1
    assert "line 3" in report["first_skipped"]


def test_write_and_read_back(tmp_path):
    path = tmp_path / "p.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        write_predictions_line(handle, "v1", None, [EvalEvent(start=1.0, end=2.0, subject="Person", score=0.5)])
        write_predictions_line(handle, "v2", "text", [])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1] == '{"answer": "text", "events": [], "video_id": "v2"}'
    predictions, report = read_predictions(path, ["v1", "v2", "v3"])
    assert predictions["v1"] == [EvalEvent(start=1.0, end=2.0, subject="Person", score=0.5)]
    assert report["skipped"] == {} and report["videos_without_prediction"] == 1
    with pytest.raises(ValueError, match="video_id"):
        write_predictions_line(io.StringIO(), "", None, [])
    with pytest.raises(ValueError, match="JSON compliant"):
        write_predictions_line(io.StringIO(), "v1", None, [{"start": float("nan")}])


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_cli_end_to_end(dataset_dir, tmp_path, capsys):
    predictions = write_jsonl(tmp_path / "p.jsonl", perfect_predictions())
    out = tmp_path / "out"
    argv = ["evaluate", "--dataset", str(dataset_dir), "--predictions", str(predictions), "--output-dir", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "extraction quadruple" in printed and "100.00" in printed and "FNR Road" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    for key in REQUIRED_KEYS:
        assert get(metrics, key) == (0.0 if "fnr" in key else 1.0), key
    assert metrics["details"]["counts"]["durations_inferred"] == 1  # v3's null duration survived parquet
    per_video = json.loads((out / "per_video.json").read_text())
    assert sorted(per_video) == ["v1", "v2", "v3", "v4"]
    first = (out / "metrics.json").read_bytes(), (out / "per_video.json").read_bytes()
    assert main(argv) == 0
    assert ((out / "metrics.json").read_bytes(), (out / "per_video.json").read_bytes()) == first


def test_cli_lenient_skips_and_counts(dataset_dir, tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", perfect_predictions())
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n" + '{"video_id": "v9", "events": []}\n' + '{"video_id": "v1", "events": []}\n')
    argv = ["evaluate", "--dataset", str(dataset_dir), "--predictions", str(path), "--output-dir", str(tmp_path / "o")]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sherlock evaluate: error: ") and "p.jsonl, line 5: bad JSON" in err[0]
    assert main([*argv, "--lenient"]) == 0
    printed = capsys.readouterr().out
    assert (
        "skipped 3 malformed prediction line(s) (bad_json: 1, duplicate_video_id: 1, unknown_video_id: 1)" in printed
    )
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["details"]["predictions_file"]["skipped"] == {
        "bad_json": 1,
        "duplicate_video_id": 1,
        "unknown_video_id": 1,
    }
    assert metrics["extraction"]["quadruple"] == 1.0  # the first v1 line was kept


def test_cli_errors_are_one_line_with_an_exit_code(dataset_dir, tmp_path, capsys):
    predictions = write_jsonl(tmp_path / "p.jsonl", perfect_predictions())
    base = ["evaluate", "--dataset", str(dataset_dir), "--output-dir", str(tmp_path / "o")]
    cases = [
        ([*base, "--predictions", str(predictions), "--model", "demo"], 2, "give exactly one of --model"),
        ([*base, "--model", "demo", "--batch-size", "0"], 2, "--batch-size must be >= 1"),
        ([*base, "--predictions", str(tmp_path / "missing.jsonl")], 1, "no such predictions file"),
        ([*base, "--predictions", str(predictions), "--fps", "0"], 2, "--fps must be a positive number"),
        ([*base, "--predictions", str(predictions), "--split", "train"], 1, "cannot load split 'train'"),
        (
            [
                "evaluate",
                "--dataset",
                str(tmp_path / "nowhere"),
                "--predictions",
                str(predictions),
                "--output-dir",
                "o",
            ],
            1,
            "cannot load split 'test'",
        ),
    ]
    for argv, code, needle in cases:
        assert main(argv) == code, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("sherlock evaluate: error: ") and needle in err[0], err
    assert not (tmp_path / "o").exists()


def test_evaluate_help_is_fast_and_light():
    script = (
        "import sys, contextlib, io\n"
        "from sherlock.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        main(['evaluate', '--help'])\n"
        "    except SystemExit as exit:\n"
        "        code = exit.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'numpy', 'datasets') if m in sys.modules]\n"
        "print(code, heavy, '--predictions' in out.getvalue() and '--lenient' in out.getvalue())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "[]", "True"]


def test_compare_prints_both_runs_with_paired_t_tests(dataset_dir, tmp_path, capsys):
    from scipy.stats import ttest_rel

    base = ["evaluate", "--dataset", str(dataset_dir)]
    empty = write_jsonl(tmp_path / "empty.jsonl", {})
    assert main([*base, "--predictions", str(empty), "--output-dir", str(tmp_path / "empty")]) == 0
    perfect = write_jsonl(tmp_path / "perfect.jsonl", perfect_predictions())
    out = tmp_path / "perfect"
    argv = [*base, "--predictions", str(perfect), "--output-dir", str(out), "--compare", str(tmp_path / "empty")]
    capsys.readouterr()
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "extraction.quadruple" in printed and "paired t-tests on per-video scores" in printed
    comparison = json.loads((out / "comparison.json").read_text())
    row = comparison["metrics"]["extraction.quadruple"]
    assert (row["a"], row["b"], row["difference"]) == (1.0, 0.0, -1.0)
    assert comparison["metrics"]["classification.fnr"] == {"a": 0.0, "b": 1.0, "difference": 1.0}
    # the t-test pairs each video's scores of the two runs, as scipy computes it from the per-video files
    a = json.loads((out / "per_video.json").read_text())
    b = json.loads((tmp_path / "empty" / "per_video.json").read_text())
    videos = sorted(a)
    expected = ttest_rel([a[v]["quadruple_f1"] for v in videos], [b[v]["quadruple_f1"] for v in videos])
    test = comparison["tests"]["quadruple_f1"]
    assert test["n"] == len(videos) and test["p_value"] == pytest.approx(float(expected.pvalue), abs=1e-6)
    assert f"quadruple_f1: n={len(videos)}" in printed


def test_compare_refuses_runs_over_different_videos(tmp_path):
    from sherlock.evaluation.compare import compare_runs

    for name, videos in (("a", ["v1", "v2"]), ("b", ["v1", "v3"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"extraction": {"quadruple": 0.5}}))
        per_video = {v: {"quadruple_f1": 0.5, "localization_f1@0.3": 0.5, "f2": None} for v in videos}
        (tmp_path / name / "per_video.json").write_text(json.dumps(per_video))
    with pytest.raises(ValueError, match=r"the runs scored different videos .*only in .*\['v2'\].*\['v3'\]"):
        compare_runs(tmp_path / "a", tmp_path / "b")
    with pytest.raises(FileNotFoundError, match="is not an evaluation run: no metrics.json"):
        compare_runs(tmp_path / "a", tmp_path / "missing")


def test_gate_weights_are_read_back_and_checked(tmp_path):
    path = tmp_path / "p.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        write_predictions_line(handle, "v1", None, [], gate_weights={"action": 0.75, "global": 0.25})
        write_predictions_line(handle, "v2", None, [])
    assert '"gate_weights": {"action": 0.75, "global": 0.25}' in path.read_text().splitlines()[0]
    _, report = read_predictions(path, ["v1", "v2"])
    assert report["gate_weights"] == {"v1": {"action": 0.75, "global": 0.25}}
    for bad in ('{"action": -0.1}', '{"action": "high"}', "[0.5, 0.5]", '{"action": true}'):
        path.write_text(f'{{"video_id": "v1", "events": [], "gate_weights": {bad}}}\n')
        with pytest.raises(ValueError, match="line 1: `gate_weights` must map expert names"):
            read_predictions(path, ["v1"])
        _, report = read_predictions(path, ["v1"], lenient=True)
        assert report["skipped"] == {"bad_gate_weights": 1}


def test_cli_judge_scores_go_into_metrics_and_report(dataset_dir, tmp_path, capsys):
    perfect = write_jsonl(tmp_path / "perfect.jsonl", perfect_predictions())
    out = tmp_path / "judged"
    argv = ["evaluate", "--dataset", str(dataset_dir), "--predictions", str(perfect), "--output-dir", str(out)]
    assert main([*argv, "--judge", "embedding"]) == 0
    printed = capsys.readouterr()
    assert re.search(r"^judge embedding: quadruple +100\.00$", printed.out, re.MULTILINE), printed.out
    assert "Loading weights" not in printed.out + printed.err
    judged = json.loads((out / "metrics.json").read_text())["judges"]["embedding"]
    assert {judged[t] for t in ("subject", "event_type", "object", "scene", "quadruple")} == {1.0}
    assert judged["settings"] == {"judge": "embedding", "model": "default"}
    assert "| embedding | 100.00 | 100.00 | 100.00 | 100.00 | 100.00 |" in (out / "report.md").read_text()
    per_video = json.loads((out / "per_video.json").read_text())
    assert {entry["judge embedding quadruple"] for entry in per_video.values()} == {1.0}
    assert main([*argv, "--judge", "oracle"]) == 2  # refused before anything runs
    assert "Unknown judge" in capsys.readouterr().err
