"""The frame-supervision stage of `sherlock train` (`--frame-supervision-epochs`, issue 21): the heads, the GSM set-up
after the stage, the option checks, and a tiny run on the synthetic set that trains only the GSM in the frame stage,
keeps the language model untouched there, keeps the frozen GSM through the LM stage and exports no head."""

import contextlib
import io
import json

import pytest
import torch
from safetensors.torch import load_file
from test_train_cli import synthetic, tiny_model  # noqa: F401  (the same tiny set and model as the train CLI tests)

from modeling_sherlock import SherlockForConditionalGeneration
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES
from sherlock.arguments import UsageError
from sherlock.cli import main
from sherlock.train import RECORD_FILE, check_arguments, parse_train_arguments
from sherlock.training import frame_stage
from sherlock.training.frame_heads import FrameHeads, frame_loss
from sherlock.training.frame_targets import IGNORE_INDEX, NO_EVENT, as_tensors, frame_targets


QUICK = ["--max-steps", "2", "--per-device-train-batch-size", "2", "--gradient-accumulation-steps", "1"]
QUICK += ["--logging-steps", "1", "--learning-rate", "1e-3", "--use-cpu", "--no-progress", "--save-strategy", "no"]
GSM_GROUPS = ("video_tower", "multi_modal_projector", "spatial_experts", "expert_gate")


def snapshot(model) -> dict:
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def changed(before: dict, after: dict) -> set:
    return {name for name in before if not torch.equal(before[name], after[name])}


def without_versions(config):
    """A config dict without what a training run writes anew (versions, dtypes, the origin, use_cache), at every level."""
    if isinstance(config, dict):
        drop = {"transformers_version", "_name_or_path", "dtype", "torch_dtype", "use_cache"}
        return {key: without_versions(value) for key, value in config.items() if key not in drop}
    return config


def test_heads_shapes_and_loss():
    heads = FrameHeads(hidden_size=8, inner_size=16)
    logits = heads(torch.randn(2, 3, 5, 8))
    assert {name: tuple(value.shape) for name, value in logits.items()} == {
        "event_types": (2, 3, len(EVENT_TYPES)),
        "subject": (2, 3, len(ENTITIES) + 1),
        "object": (2, 3, len(ENTITIES) + 1),
        "scene": (2, 3, len(SCENES)),
    }
    event = {"start": 0, "end": 1, "subject": "man", "event_type": "Fire", "object": "none", "scene": "Street"}
    targets = as_tensors([frame_targets([event], [0.0, 1.0, 2.0]), frame_targets([], [0.0, 1.0, 2.0])])
    assert targets["frame_subject"][1].tolist() == [NO_EVENT] * 3
    assert targets["frame_scene"][1].tolist() == [IGNORE_INDEX] * 3
    losses = frame_loss(logits, targets)
    assert torch.isfinite(losses["loss"]) and losses["loss"] > 0
    assert losses["loss"].item() == pytest.approx(sum(losses[name].item() for name in logits), rel=1e-5)
    no_scene = frame_loss(logits, {**targets, "frame_scene": torch.full((2, 3), IGNORE_INDEX)})
    assert no_scene["scene"].item() == 0.0 and torch.isfinite(no_scene["loss"])


def test_event_type_hits_count_all_frames_and_the_frames_inside_events():
    # 1 video x 4 frames x 3 types: frame 0 no event, predicted none (right); frame 1 no event, predicted type 0
    # (wrong); frame 2 types {0, 2}, predicted {0, 2} (right); frame 3 type {1}, predicted {1, 2} (wrong)
    targets = torch.tensor([[[0, 0, 0], [0, 0, 0], [1, 0, 1], [0, 1, 0]]], dtype=torch.float32)
    logits = torch.tensor([[[-1, -1, -1], [2, -1, -1], [3, -2, 1], [-1, 2, 2]]], dtype=torch.float32)
    hits = frame_stage.event_type_hits(logits, targets)
    assert hits == {"correct": 2, "frames": 4, "event_correct": 1, "event_frames": 2}


def test_temporal_heads_see_the_neighbouring_frames_only():
    torch.manual_seed(0)
    heads = FrameHeads(hidden_size=8, inner_size=16, temporal_kernel=3)
    frames = torch.randn(1, 6, 5, 8)
    changed_frames = frames.clone()
    changed_frames[0, 3] += torch.randn(5, 8)  # frame 3 changes: frames 2, 3 and 4 see it, the others do not
    before, after = heads(frames)["event_types"], heads(changed_frames)["event_types"]
    moved = [not torch.allclose(before[0, f], after[0, f]) for f in range(6)]
    assert moved == [False, False, True, True, True, False]
    plain = FrameHeads(hidden_size=8, inner_size=16)  # without: each frame on its own
    moved = [not torch.allclose(plain(frames)["scene"][0, f], plain(changed_frames)["scene"][0, f]) for f in range(6)]
    assert moved == [False, False, False, True, False, False]
    with pytest.raises(ValueError, match="odd"):
        FrameHeads(hidden_size=8, temporal_kernel=2)


def test_evaluate_frames_counts_held_out_frames(monkeypatch):
    # 2 videos x 3 frames. Types: video 0 = [none, A, A], video 1 = [B, none, none] (3 frames inside events).
    types = torch.zeros(2, 3, len(EVENT_TYPES))
    types[0, 1:, 0] = 1
    types[1, 0, 1] = 1
    batch = {
        "frame_event_types": types,
        "frame_subject": torch.tensor([[NO_EVENT, 2, 2], [5, NO_EVENT, NO_EVENT]]),
        "frame_object": torch.tensor([[NO_EVENT, 3, 3], [6, NO_EVENT, NO_EVENT]]),
        "frame_scene": torch.tensor([[1, 1, 1], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]]),
    }
    predicted_types = types.clone() * 4 - 2  # every bit right ...
    predicted_types[0, 2, 0] = -2  # ... but video 0, frame 2 misses A
    predicted_types[1, 2, 3] = 2  # ... and video 1, frame 2 (no event) predicts one

    def one_hot(indices, classes, wrong=()):
        logits = torch.nn.functional.one_hot(indices.clamp(min=0), classes).float()
        for video, frame in wrong:
            logits[video, frame] = logits[video, frame].roll(1)
        return logits

    logits = {
        "event_types": predicted_types,
        "subject": one_hot(batch["frame_subject"], NO_EVENT + 1, wrong=[(0, 1)]),  # 2 of 3 inside events right
        "object": one_hot(batch["frame_object"], NO_EVENT + 1, wrong=[(0, 0)]),  # wrong outside events only: 3 of 3
        "scene": one_hot(batch["frame_scene"], len(SCENES), wrong=[(0, 2)]),  # 2 of the 3 known scenes
    }
    monkeypatch.setattr(frame_stage, "_frame_logits", lambda *args: (logits, None))

    class Collator:
        processor = type("Processor", (), {"tokens_per_frame": 5})()

        def __call__(self, rows):  # one row at a time (`FrameInputCache`)
            (row,) = rows
            return {key: value[row : row + 1] for key, value in batch.items()}

    heads, model = FrameHeads(hidden_size=8), torch.nn.Linear(1, 1)
    result = frame_stage.evaluate_frames(model, heads, Collator(), [0, 1], batch_size=2, device=torch.device("cpu"),
                                         bf16=False)  # fmt: skip
    assert result == {
        "event_frame_accuracy": round(2 / 3, 4),
        "frame_accuracy": round(4 / 6, 4),
        "subject_accuracy": round(2 / 3, 4),
        "object_accuracy": 1.0,
        "scene_accuracy": round(2 / 3, 4),
        # type A (EVENT_TYPES[0]): 2 frames, found in 1; type B: 1 frame, found; types never under way: absent
        "event_type_recall": {EVENT_TYPES[0]: 0.5, EVENT_TYPES[1]: 1.0},
    }
    assert model.training and heads.training  # the evaluation leaves both in training mode


def test_gsm_after_frames_modes(tiny_model):  # noqa: F811
    model = SherlockForConditionalGeneration.from_pretrained(tiny_model)
    gsm = frame_stage.gsm_parameters(model)
    assert {group for group in GSM_GROUPS if any(group in name for name in gsm)} == set(GSM_GROUPS)
    assert not any("language_model" in name or name.startswith("lm_head") for name in gsm)
    assert frame_stage.gsm_after_frames(model, "joint", 1e-3, 0.0) == (None, None)
    optimizer, scheduler = frame_stage.gsm_after_frames(model, "lower_lr", 1e-3, 0.0)
    assert scheduler is None and [group["lr"] for group in optimizer.param_groups] == pytest.approx([1e-3, 1e-4])
    assert {id(param) for param in optimizer.param_groups[1]["params"]} == {id(param) for param in gsm.values()}
    assert frame_stage.gsm_after_frames(model, "frozen", 1e-3, 0.0) == (None, None)
    assert frame_stage.gsm_parameters(model) == {}
    assert all(param.requires_grad for name, param in model.named_parameters() if "language_model" in name)


def test_option_checks(tmp_path, monkeypatch):
    base = ["--model", str(tmp_path), "--dataset", str(tmp_path), "--output-dir", str(tmp_path / "out")]
    args = parse_train_arguments([*base, "--frame-supervision-epochs", "2", "--gsm-after-frames", "lower_lr"])
    check_arguments(args)
    assert (args.frame_supervision_epochs, args.gsm_after_frames) == (2, "lower_lr")
    assert parse_train_arguments(base).frame_supervision_epochs == 0  # off by default (the paper's recipe)
    bad = [
        ["--frame-supervision-epochs", "-1"],
        ["--frame-supervision-epochs", "1", "--stage", "1"],
        ["--gsm-after-frames", "thawed"],
        ["--frame-learning-rate", "-1"],
        ["--frame-temporal-kernel", "2"],
        ["--frame-lr-scheduler-type", "sawtooth"],
        ["--frame-temporal-kernel", "-3"],
    ]
    for extra in bad:
        with pytest.raises(UsageError):
            check_arguments(parse_train_arguments([*base, *extra]))
    # one process only: a distributed launch (torchrun / accelerate set WORLD_SIZE) is refused before anything loads
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError, match="one process"):
        check_arguments(parse_train_arguments([*base, "--frame-supervision-epochs", "1"]))
    check_arguments(parse_train_arguments(base))  # without the frame stage a distributed launch is fine


def test_train_with_frame_supervision(tiny_model, synthetic, tmp_path, monkeypatch):  # noqa: F811
    """`--frame-supervision-epochs 1` (the train split's videos in batches of 2), then 2 LM steps, the GSM frozen."""
    states = {}
    original = frame_stage.run_frame_stage

    def recorded(model, *args, **kwargs):
        states["before"] = snapshot(model)
        result = original(model, *args, **kwargs)
        states["after"] = snapshot(model)
        return result

    monkeypatch.setattr(frame_stage, "run_frame_stage", recorded)
    output = tmp_path / "out"
    argv = ["train", "--without", "pretune", "--model", str(tiny_model), "--dataset", str(synthetic), "--no-lora"]
    argv += ["--output-dir", str(output), "--frame-supervision-epochs", "1", "--frame-learning-rate", "1e-2", *QUICK]
    argv += ["--frame-temporal-kernel", "3", "--frame-lr-scheduler-type", "cosine"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    assert "frame supervision epoch 1/1: loss " in out.getvalue()

    before, after = states["before"], states["after"]
    gsm = {name for name in before if frame_stage.is_gsm_parameter(name)}
    moved = changed(before, after)
    assert moved and moved <= gsm  # the frame stage changes GSM parameters only: the language model is untouched
    for group in GSM_GROUPS:  # every part of the GSM trains (--no-lora: the video tower too)
        assert any(group in name for name in moved), group
    assert not any("background.tower" in name for name in moved)  # the frozen background tower stays frozen

    exported = SherlockForConditionalGeneration.from_pretrained(output)
    final = snapshot(exported)
    assert set(final) == set(before)  # no head parameter in the exported model
    assert changed(after, final) and not changed(after, final) & gsm  # the LM trained, the frozen GSM did not
    keys = set(load_file(output / "model.safetensors"))
    assert not [key for key in keys if "head" in key and "lm_head" not in key]
    assert keys == set(load_file(tiny_model / "model.safetensors"))

    config = json.loads((output / "config.json").read_text())
    source = json.loads((tiny_model / "config.json").read_text())
    assert without_versions(config) == without_versions(source)  # no head in the config either

    record = json.loads((output / RECORD_FILE).read_text())
    frames = record["frame_supervision"]
    assert (frames["epochs"], frames["gsm_after_frames"], frames["learning_rate"]) == (1, "frozen", 1e-2)
    assert (frames["temporal_kernel"], frames["lr_scheduler_type"]) == (3, "cosine")
    assert frames["per_epoch"][-1]["learning_rate"] == 0.0  # the cosine schedule ends at zero after the last epoch
    assert record["rows"] >= 3 and [epoch["steps"] for epoch in frames["per_epoch"]] == [-(-record["rows"] // 2)]
    assert record["arguments"]["frame_supervision_epochs"] == 1 and record["global_step"] == 2
    (epoch,) = frames["per_epoch"]
    assert list(epoch["gate_weights"]) == ["action", "object_relation", "background", "global"]
    assert sum(epoch["gate_weights"].values()) == pytest.approx(1.0, abs=1e-3)
    assert 0 <= epoch["frame_accuracy"] <= 1 and (
        epoch["event_frame_accuracy"] is None or 0 <= epoch["event_frame_accuracy"] <= 1
    )


def test_lora_run_with_the_gsm_at_a_lower_learning_rate(tiny_model, synthetic, tmp_path):  # noqa: F811
    """With LoRA the frame stage trains the `modules_to_save` copies of the GSM; `lower_lr` hands the trainer a
    two-group AdamW; the adapter holds no head."""
    output = tmp_path / "out"
    argv = ["train", "--without", "pretune", "--model", str(tiny_model), "--dataset", str(synthetic)]
    argv += ["--output-dir", str(output), "--frame-supervision-epochs", "1", "--gsm-after-frames", "lower_lr", *QUICK]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    frames = json.loads((output / RECORD_FILE).read_text())["frame_supervision"]
    assert (frames["gsm_after_frames"], frames["gsm_learning_rate"]) == ("lower_lr", pytest.approx(1e-4))
    assert frames["trained_parameters"] > 0 and frames["per_epoch"][0]["loss"] > 0
    keys = set(load_file(output / "adapter" / "adapter_model.safetensors"))
    assert any("expert_gate" in key for key in keys) and not any("frame" in key or "heads" in key for key in keys)


def test_the_input_cache_gives_the_collators_batches_and_the_same_training(tiny_model, synthetic):  # noqa: F811
    from processing import SherlockProcessor
    from sherlock.evaluation.dataset import load_split_rows

    processor = SherlockProcessor.from_pretrained(tiny_model, feature_cache_dir=str(synthetic / "features"))
    rows = load_split_rows(str(synthetic), "train")
    collator = frame_stage.FrameSupervisionCollator(processor, video_root=synthetic / "videos")
    cache = frame_stage.FrameInputCache(collator, rows)
    expected = collator(rows[:3])
    for got in (cache.batch([0, 1, 2]), cache.batch([0, 1, 2])):  # collated, then read from memory
        assert set(got) == set(expected) - set(frame_stage.LANGUAGE_KEYS)
        for key, value in got.items():
            assert torch.equal(value, expected[key]), key
    assert sorted(cache.rows) == [0, 1, 2]
    over_budget = frame_stage.FrameInputCache(collator, rows, budget_bytes=1000)
    assert (
        torch.equal(over_budget.batch([1])["frame_subject"], expected["frame_subject"][1:2]) and not over_budget.rows
    )

    runs = []
    for budget in (0, frame_stage.INPUT_CACHE_BYTES):
        torch.manual_seed(0)  # the heads' initialisation
        model = SherlockForConditionalGeneration.from_pretrained(tiny_model)
        settings = {"epochs": 2, "learning_rate": 1e-2, "weight_decay": 0.0, "batch_size": 2, "seed": 0, "bf16": False}
        record = frame_stage.run_frame_stage(
            model, collator, rows, device=torch.device("cpu"), input_cache_bytes=budget, **settings
        )
        runs.append((snapshot(model), record))
    assert changed(snapshot(SherlockForConditionalGeneration.from_pretrained(tiny_model)), runs[0][0])  # it trained
    assert not changed(runs[0][0], runs[1][0])  # the same weights with and without the cache
    assert (runs[0][1]["input_cache_rows"], runs[1][1]["input_cache_rows"]) == (0, len(rows))
    assert [epoch["loss"] for epoch in runs[0][1]["per_epoch"]] == [epoch["loss"] for epoch in runs[1][1]["per_epoch"]]
    assert [epoch["learning_rate"] for epoch in runs[0][1]["per_epoch"]] == [1e-2, 1e-2]  # constant by default


def test_learn_synthetic_frame_only_prints_the_held_out_frame_accuracies(tmp_path, capsys):
    import sys
    from pathlib import Path

    from dataset_scripts.build_synthetic import SyntheticArguments
    from dataset_scripts.synthetic_build import build_synthetic

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import learn_synthetic

    folder = tmp_path / "synthetic"  # the benchmark's processor samples 8 frames: a set of its own
    small = {"num_videos": 8, "size": "96x64", "duration": 4.0, "num_workers": 1, "seed": 4}
    build_synthetic(SyntheticArguments(output_dir=str(folder), **small))

    output = tmp_path / "frames.json"
    arguments = ["--dataset", str(folder), "--configs", "full,wo_sir", "--frame-only", "--frame-epochs", "2"]
    arguments += ["--frame-temporal-kernel", "3", "--width", "32", "--layers", "1", "--output-json", str(output)]
    results = learn_synthetic.main(arguments)
    assert list(results) == ["full", "wo_sir"]  # no majority / untrained rows: nothing answers
    for result in results.values():
        record = result["frame_stage"]
        assert len(record["per_epoch"]) == 2 and record["temporal_kernel"] == 3
        assert result["event_frame_accuracy"] == record["per_epoch"][-1]["held_out"]["event_frame_accuracy"]
        assert all(0 <= value <= 1 for value in result["event_type_recall"].values())
    assert (
        results["full"]["frame_stage"]["gsb_loss_coef"] == 0.4
        and results["wo_sir"]["frame_stage"]["gsb_loss_coef"] == 0
    )
    printed = capsys.readouterr().out
    assert "held-out frame accuracies after the frame stage" in printed and "| w/o SIR (alpha 0) |" in printed
    assert json.loads(output.read_text())["results"]["full"]["frame_stage"]["epochs"] == 2
    with pytest.raises(SystemExit, match="frame-epochs"):
        learn_synthetic.main(["--dataset", str(folder), "--configs", "full", "--frame-only"])
