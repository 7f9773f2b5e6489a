"""The GSM overhead benchmark script runs end to end (a smoke run at tiny sizes; no timing is asserted)."""

import json
import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import benchmark_gsm_overhead as benchmark  # noqa: E402


def test_quick_run_reports_consistent_flop_counts():
    results = benchmark.main(["--quick"])
    flops = results["flops"]
    base = flops["video_llava"]
    features, pixels = flops["sherlock_features"], flops["sherlock_pixels"]
    # Sherlock = Video-LLaVA + GSM (+ the background tower on pixels): every FLOP is attributed
    assert features["flops"] == base + flops["gsm"]
    assert pixels["flops"] == base + flops["gsm"] + flops["background_tower"]
    assert flops["unattributed"] == {"sherlock_features": 0, "sherlock_pixels": 0}
    assert flops["gsm"] == sum(flops["per_expert"].values()) + flops["gate"]
    assert features["ratio"] == pytest.approx(features["flops"] / base)
    # the counted language model matches the analytic formula within 1 %
    assert flops["language_model"] == pytest.approx(flops["analytic_llm"], rel=0.01)
    wall = results["wall_time"]["forward"]
    assert set(wall) == {"video_llava", "sherlock_features", "sherlock_pixels"}
    assert all(entry["median_s"] > 0 for entry in wall.values())


def test_expert_forms_benchmark_separates_the_two_forms_without_the_global_expert(capsys):
    """At initialisation the paper form's "w/o GE" mixture is unrelated to the video tokens, the residual form's is
    a copy of them; with the global expert both stay close to Video-LLaVA's features."""
    import benchmark_expert_forms

    summary = benchmark_expert_forms.main(["--sizes", "tiny", "--seeds", "1"])
    assert "| w/o GE | paper |" in capsys.readouterr().out
    assert abs(summary[("w/o GE", "paper")]["cos(O, T_v)"]) < 0.5
    assert summary[("w/o GE", "residual")]["cos(O, T_v)"] > 0.95
    assert abs(summary[("all four experts", "paper")]["cos(S_local, T_v)"]) < 0.5
    assert summary[("all four experts", "residual")]["cos(S_local, T_v)"] > 0.99
    for form in ("paper", "residual"):
        assert summary[("all four experts", form)]["cos(O, T_v)"] > 0.95


@pytest.mark.slow
def test_learn_synthetic_benchmark_trains_scores_and_splits_by_modality(tmp_path, capsys):
    """A smoke run of `learn_synthetic.py` (two configurations, a few steps) on a small synthetic set; the modality
    split is checked on the gold answers, where it must give F1 1 for every modality that has events."""
    import learn_synthetic

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic
    from dataset_scripts.synthetic_world import EVENT_SPECS
    from sherlock.evaluation.dataset import load_split_rows

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=10, size="96x64", duration=4.0, num_workers=1, seed=1)
    )
    results = learn_synthetic.main(
        ["--dataset", str(folder), "--configs", "full,video_llava", "--epochs", "1", "--width", "32", "--layers", "1"]
    )
    assert list(results) == ["majority", "untrained", "full", "video_llava"]
    for result in results.values():
        assert 0.0 <= result["quadruple_f1"] <= 1.0 and 0.0 <= result["map@0.3"] <= 1.0
        assert set(result["per_modality"]) == {"pose", "relation", "object", "scene"}
    assert set(results["full"]["gate_weights"]) == {"action", "object_relation", "background", "global"}
    assert results["video_llava"]["gate_weights"] == {}  # no gate (uniform): the predictor records none
    assert "| Sherlock (full) |" in capsys.readouterr().out

    rows = load_split_rows(str(folder), "train") + load_split_rows(str(folder), "test")
    gold = {row["video_id"]: row["events"] for row in rows}
    by_modality = learn_synthetic.modality_f1(rows, gold)
    present = {EVENT_SPECS[event["event_type"]].modality for row in rows for event in row["events"]}
    assert present and all(by_modality[modality] == 1.0 for modality in present)
    no_scene = {
        video: [e for e in events if e["event_type"] not in ("Fire", "Forbidden")] for video, events in gold.items()
    }
    assert learn_synthetic.modality_f1(rows, no_scene)["scene"] == (0.0 if "scene" in present else 1.0)


@pytest.mark.slow
def test_learn_synthetic_frame_supervision_prints_the_row_without_it(tmp_path, capsys):
    """`--frame-epochs 1`: the full model runs the frame stage first (its record in the results), `wo_frames` does
    not; one run prints both rows."""
    import learn_synthetic

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=8, size="96x64", duration=4.0, num_workers=1, seed=4)
    )
    output = tmp_path / "figures.json"
    arguments = ["--dataset", str(folder), "--configs", "full,wo_frames", "--epochs", "1", "--frame-epochs", "1"]
    arguments += ["--width", "32", "--layers", "1", "--output-json", str(output)]
    results = learn_synthetic.main(arguments)
    assert list(results) == ["majority", "untrained", "full", "wo_frames"]
    record = results["full"]["frame_stage"]
    assert record["epochs"] == 1 and len(record["per_epoch"]) == 1 and record["gsm_after_frames"] == "frozen"
    assert (
        record["per_epoch"][0]["steps"] > 0
        and results["full"]["frame_accuracy"] == record["per_epoch"][0]["held_out"]["event_frame_accuracy"]
    )
    held_out = record["per_epoch"][0]["held_out"]  # the frame accuracies of the test rows
    assert set(held_out) == {"event_frame_accuracy", "frame_accuracy", "subject_accuracy", "object_accuracy",
                             "scene_accuracy", "event_type_recall"}  # fmt: skip
    assert 0 <= held_out["frame_accuracy"] <= 1
    assert "frame_stage" not in results["wo_frames"] and "frame_accuracy" not in results["wo_frames"]
    printed = capsys.readouterr().out
    assert "| Sherlock (full) |" in printed and "| w/o frame supervision |" in printed
    assert "frame supervision epoch 1/1" in printed
    assert json.loads(output.read_text())["results"]["full"]["frame_stage"]["epochs"] == 1


def test_learn_synthetic_merges_runs_that_differ_only_in_their_configurations(tmp_path, capsys):
    """`--merge`: configurations split over processes print as one table; runs with other settings are refused."""
    import learn_synthetic

    def figures(f1):
        return {
            "quadruple_f1": f1,
            "map@0.3": 0.5,
            "per_modality": dict.fromkeys(("pose", "relation", "object", "scene"), 0.1),
        }

    settings = vars(learn_synthetic.parse_args(["--frame-epochs", "8"]))
    runs = {
        "a.json": ({**settings, "configs": "full"}, {"majority": {"label": "majority", **figures(0.01)}, "full": {"label": "Sherlock (full)", **figures(0.4)}}),
        "b.json": ({**settings, "configs": "wo_ae", "threads": 1}, {"majority": {"label": "majority", **figures(0.99)}, "wo_ae": {"label": "w/o AE", **figures(0.3)}}),
        "c.json": ({**settings, "configs": "wo_ore", "epochs": 1.0}, {"wo_ore": {"label": "w/o ORE", **figures(0.2)}}),
    }  # fmt: skip
    for name, (run_settings, results) in runs.items():
        (tmp_path / name).write_text(json.dumps({"settings": run_settings, "results": results}))
    merged = learn_synthetic.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert list(merged) == ["majority", "full", "wo_ae"] and merged["majority"]["quadruple_f1"] == 0.01
    printed = capsys.readouterr().out
    assert "| Sherlock (full) | 40.0 |" in printed and "| w/o AE | 30.0 |" in printed
    with pytest.raises(SystemExit, match="differs from .* in \\['epochs'\\]"):
        learn_synthetic.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "c.json")])


@pytest.mark.slow
def test_gold_evidence_control_gives_each_frame_the_embedding_of_its_own_gold_labels(tmp_path):
    import learn_synthetic
    import torch

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic
    from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES
    from sherlock.evaluation.dataset import load_split_rows
    from sherlock.tiny_models import train_tokenizer

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=8, size="96x64", duration=4.0, num_workers=1, seed=2)
    )
    rows = load_split_rows(str(folder), "train") + load_split_rows(str(folder), "test")
    tokenizer = train_tokenizer()
    processor = learn_synthetic.synthetic_processor(tokenizer, folder)
    model = learn_synthetic.tiny_model(tokenizer, 32, 1, 0).eval()
    learn_synthetic.attach_gold_evidence(model, processor, rows, folder / "videos")
    vocabulary = ["<none>", *EVENT_TYPES, *SCENES, *ENTITIES]
    row = next(r for r in rows if r["events"])  # a video with an event: its frames differ in their labels
    inputs = processor(videos=[str(folder / "videos" / row["video"])], return_metadata=True)
    expert_inputs = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "video_metadata")}
    with torch.no_grad():
        features = model.model.get_video_features(**expert_inputs).pooler_output.reshape(8, -1, 32)
        table = model.gold_evidence_embedding.weight
    event = row["events"][0]
    for frame, t in enumerate(inputs["video_metadata"][0]["timestamps"]):
        inside = event["start"] <= t <= event["end"] and row["events"].index(event) == 0
        labels = [event["event_type"], event["subject"], event["object"]] if inside else None
        if labels is None and any(e["start"] <= t <= e["end"] for e in row["events"]):
            continue  # under another event of the video
        names = (labels or ["<none>"] * 3) + [row["source"]["scene"]]
        expected = sum(table[slot * len(vocabulary) + vocabulary.index(name)] for slot, name in enumerate(names))
        for token in features[frame]:
            torch.testing.assert_close(token, expected)


@pytest.mark.slow
@pytest.mark.parametrize(
    "extractors",
    [[], *(["--extractors", kind, "--image-size", "64", "--patch-size", "16"] for kind in ("random", "trained"))],
    ids=["oracle", "random", "trained"],
)
def test_train_experts_directly_reports_held_out_accuracy_per_modality(tmp_path, capsys, extractors):
    import train_experts_directly

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=12, size="96x64", duration=4.0, num_workers=1, seed=3)
    )
    history = train_experts_directly.main(
        ["--dataset", str(folder), "--epochs", "2", "--batch-size", "2", *extractors]
    )
    assert [figures["epoch"] for figures in history] == [1, 2]
    # the chosen extractors ran (their output cached apart from the oracle features), or none did
    kinds = [kind for kind in ("random", "trained") if (folder / f"features-{kind}-extractors").is_dir()]
    assert kinds == extractors[1:2]
    for figures in history:
        assert 0.0 <= figures["accuracy"] <= 1.0
        assert set(figures["per_modality"]) <= {"pose", "relation", "object", "scene"}
    assert "held-out event-type accuracy" in capsys.readouterr().out


def test_synthetic_build_benchmark_times_one_and_all_workers_and_finds_the_same_bytes(capsys):
    import benchmark_synthetic_build

    summary = benchmark_synthetic_build.main(["--quick", "--workers", "2"])
    assert summary["identical"] and summary["files"] > 0
    assert [result["workers"] for result in summary["results"]] == [1, 2]
    assert all(result["videos_per_s"] > 0 for result in summary["results"])
    assert "same bytes with 1 and 2 workers" in capsys.readouterr().out


@pytest.mark.slow
def test_expert_alone_trains_every_learner_and_reports_its_modality_event_types(tmp_path, capsys):
    """A smoke run of `expert_alone.py` (every learner, 1 epoch) on a small synthetic set: each learner's weights
    (an expert learner's expert too) change, and it reports exactly the event types of its modality."""
    import expert_alone

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic
    from dataset_scripts.synthetic_world import EVENT_SPECS

    folder = tmp_path / "synthetic"
    build_synthetic(
        SyntheticArguments(output_dir=str(folder), num_videos=8, size="96x64", duration=4.0, num_workers=1, seed=4)
    )
    output = tmp_path / "figures.json"
    learners = ["action", "action_no_pose_embedding", "action_mlp", "object_relation", "object_relation_mlp"]
    arguments = ["--dataset", str(folder), "--epochs", "1", "--batch-size", "2", "--threads", "1"]
    summary = expert_alone.main([*arguments, "--learners", ",".join(learners), "--output-json", str(output)])
    assert json.loads(output.read_text()) == summary
    assert list(summary["learners"]) == learners
    modalities = {"action": {"pose"}, "object_relation": {"relation", "object"}}
    for name, result in summary["learners"].items():
        group = "action" if name.startswith("action") else "object_relation"
        types = result["event_types"]
        assert {EVENT_SPECS[t].modality for t in types} == modalities[group]
        assert set(types) == {t for t, spec in EVENT_SPECS.items() if spec.modality in modalities[group]}
        (figures,) = result["per_epoch"]
        assert figures["epoch"] == 1 and set(figures["recall"]) == set(figures["false_positives"]) == set(types)
        for t in types:
            positives = summary["held_out_positives"][t]
            assert figures["recall"][t] is None if positives == 0 else 0.0 <= figures["recall"][t] <= 1.0
            assert 0 <= figures["false_positives"][t] <= summary["frames"]["test"] - positives
        assert result["weight_change"]["encoder"] > 0 and result["weight_change"]["head"] > 0
        assert ("expert" in result["weight_change"]) == (not name.endswith("mlp"))
        assert result["weight_change"].get("expert", 1.0) > 0
    # the skeleton embedding is the only difference between the two action experts
    assert summary["learners"]["action"]["parameters"] > summary["learners"]["action_no_pose_embedding"]["parameters"]
    printed = capsys.readouterr().out
    assert "| action_no_pose_embedding |" in printed and "| object_relation_mlp |" in printed
    assert "| learner | Fighting (n=" in printed and "action epoch 1/1" in printed

    temporal = expert_alone.main([*arguments, "--learners", "object_relation", "--temporal-kernel", "3"])
    assert temporal["learners"]["object_relation"]["weight_change"]["temporal"] > 0
    assert "| object_relation + temporal conv k=3 |" in capsys.readouterr().out
