"""`make demo-model` (`sherlock.demo_training`): every step runs the project's own commands on what the extractors
see, the result installs as a loadable model with its record and card, and a second run resumes instead of redoing."""

import json
from pathlib import Path

import pytest

from sherlock import demo_training
from sherlock.demo import SHIPPED_DEMO_DIR
from sherlock.tiny_extractors import TRAINED_DETECTOR_NMS_IOU, TRAINED_EXTRACTORS_DIR


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-training")
    args = demo_training.DemoTrainingArguments(
        work_dir=str(root / "work"),
        output_dir=str(root / "model"),
        extractors_dir=TRAINED_EXTRACTORS_DIR,
        num_videos=10,
        eval_videos=3,
        frame_epochs=1,
        epochs=1,
        processes=1,
        threads=1,
    )
    return args, demo_training.build_demo_model(args), root


@pytest.mark.slow
def test_the_build_trains_on_extracted_features_and_installs_a_loadable_model(built):
    from modeling_sherlock import SherlockForConditionalGeneration
    from processing import SherlockProcessor

    args, record, root = built
    output = root / "model"
    assert list(record["steps"]) == ["extractors", "data", "base", "features", "train", "evaluate"]
    train = record["steps"]["train"]["commands"][0]
    # the model trained on the cache the extractors filled from pixels, never on the synthetic set's oracle features
    assert "--extractors precomputed --cache-dir <work-dir>/features" in train
    cached_videos = {path.parent for path in (root / "work" / "features").rglob("*.safetensors")}  # one folder each
    assert len(cached_videos) == record_rows(output)
    assert "--frame-supervision-epochs 1" in train and "--no-lora" in train
    metrics = record["held_out"]["metrics"]
    assert record["held_out"]["dataset"] == "synthetic-seed5" and 0.0 <= metrics["extraction"]["quadruple"] <= 1.0
    assert json.loads((output / demo_training.DEMO_RECORD).read_text()) == record
    model = SherlockForConditionalGeneration.from_pretrained(output)
    assert model.config.text_config.hidden_size == demo_training.DEMO_TEXT_CONFIG["hidden_size"]
    processor = SherlockProcessor.from_pretrained(output)
    # the processor runs the trained extractors, copied into the folder (not the precomputed cache it trained on)
    assert not processor.is_precomputed
    assert processor.extractors["detector"]["threshold"] == 0.4
    assert processor.extractors["detector"]["nms_iou"] == TRAINED_DETECTOR_NMS_IOU
    assert (output / "extractor-detector" / "model.safetensors").is_file()
    assert "sherlock_training.json" in {path.name for path in output.iterdir()}
    card = (output / "README.md").read_text()
    assert "not trained" not in card and "synthetic-seed5" in card
    assert not any(output.glob("checkpoint-*"))


def record_rows(model_folder) -> int:
    """The training rows of the `sherlock train` record in `model_folder`."""
    return json.loads((model_folder / "sherlock_training.json").read_text())["rows"]


@pytest.mark.slow
def test_a_second_run_resumes_every_step(built, capsys):
    args, record, root = built
    before = (root / "model" / "model.safetensors").read_bytes()
    assert demo_training.build_demo_model(args)["steps"] == record["steps"]
    out = capsys.readouterr().out
    for name in record["steps"]:
        assert f"[{name}] done before" in out
    assert "$ " not in out  # no command ran again
    assert (root / "model" / "model.safetensors").read_bytes() == before


def test_the_shipped_demo_model_was_made_by_this_module():
    """The record shipped with the demo model names this module's recipe and the held-out set it was scored on."""
    record = json.loads((SHIPPED_DEMO_DIR / demo_training.DEMO_RECORD).read_text())
    assert list(record["steps"]) == ["extractors", "data", "base", "features", "train", "evaluate"]
    train = record["steps"]["train"]["commands"][0]
    for option in demo_training.TRAIN_OPTIONS:
        assert option in train.split()
    assert record["held_out"]["dataset"] == f"synthetic-seed{record['settings']['eval_seed']}"
    assert record["settings"]["eval_seed"] != record["settings"]["data_seed"]


@pytest.mark.slow
def test_changed_settings_run_their_step_and_the_later_ones_again(built, capsys):
    """Another --epochs: the data, base and features are kept, the training and the evaluation run again (from
    nothing: the old checkpoints and run are removed) and the record says the new setting."""
    import dataclasses

    args, record, root = built
    features = sorted(path.name for path in (root / "work" / "features").rglob("*.safetensors"))
    changed = dataclasses.replace(args, epochs=2.0)
    again = demo_training.build_demo_model(changed)
    out = capsys.readouterr().out
    for name in ("extractors", "data", "base", "features"):
        assert f"[{name}] done before" in out and again["steps"][name] == record["steps"][name]
    for name in ("train", "evaluate"):
        assert f"[{name}] ..." in out and again["steps"][name]["key"] != record["steps"][name]["key"]
    assert "--num-train-epochs 2.0" in again["steps"]["train"]["commands"][0]
    assert again["settings"]["epochs"] == 2.0
    assert sorted(path.name for path in (root / "work" / "features").rglob("*.safetensors")) == features
    trained = json.loads((root / "model" / "sherlock_training.json").read_text())
    assert trained["arguments"]["num_train_epochs"] == 2.0


def test_the_shipped_demo_model_runs_the_shipped_extractors():
    """The demo model's own extractor copies are the package's trained extractors, byte for byte: the model was
    trained on what the shipped extractors see."""
    import hashlib

    parts = {"detector": "detector", "pose": "pose", "background": "segmenter"}
    for copy, shipped in parts.items():
        mine = (SHIPPED_DEMO_DIR / f"extractor-{copy}" / "model.safetensors").read_bytes()
        theirs = (Path(TRAINED_EXTRACTORS_DIR) / shipped / "model.safetensors").read_bytes()
        assert hashlib.sha256(mine).digest() == hashlib.sha256(theirs).digest(), copy


def test_the_shipped_demo_model_uses_the_shipped_extractor_settings():
    """Its processor runs the extractors with the settings `make demo-model` gives them now (thresholds, NMS,
    capacities): a change of those settings needs a rebuilt demo model, or it would see other features than it
    learnt."""
    shipped = json.loads((SHIPPED_DEMO_DIR / "processor_config.json").read_text())["extractors"]
    expected = demo_training.base_extractor_settings(Path(TRAINED_EXTRACTORS_DIR))
    assert demo_training.without_paths(shipped) == demo_training.without_paths(expected)
