"""`make demo-model` (`sherlock.demo_training`): every step runs the project's own commands on what the extractors
see, the result installs as a loadable model with its record and card, and a second run resumes instead of redoing."""

import json

import pytest

from sherlock import demo_training
from sherlock.demo import SHIPPED_DEMO_DIR
from sherlock.tiny_extractors import TRAINED_EXTRACTORS_DIR


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
    assert "synthetic-0/features" not in json.dumps(record)
    assert any((root / "work" / "features").rglob("*.safetensors"))
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
    assert (output / "extractor-detector" / "model.safetensors").is_file()
    assert "sherlock_training.json" in {path.name for path in output.iterdir()}
    card = (output / "README.md").read_text()
    assert "not trained" not in card and "synthetic-seed5" in card
    assert not any(output.glob("checkpoint-*"))


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
