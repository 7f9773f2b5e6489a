"""What `sherlock train` reads before it trains, through the functions the other commands use too: the rows of a
dataset split (`evaluation.dataset.load_split_rows`, with a config and the columns of either stage) and the training
record of a `--model` value (`loading.model_training_record`, on `loading.read_training_record`)."""

import json

import pytest

from sherlock.arguments import UsageError
from sherlock.evaluation.dataset import load_split_rows
from sherlock.loading import (
    DEMO_MODEL,
    RECORD_FILE,
    check_pushable_base,
    model_training_record,
    read_training_record,
)
from sherlock.train import RECORD_FILE as TRAIN_RECORD_FILE


PRETUNE_CARD = """---
configs:
- config_name: all
  data_files:
  - split: train
    path: all/train.jsonl
- config_name: coco_captions
  data_files:
  - split: train
    path: coco_captions/train.jsonl
---
"""


@pytest.fixture
def pretune_folder(tmp_path):
    """A dataset folder with two configs, as `sherlock-build-pretune` writes them (rows of the pre-tuning set)."""
    folder = tmp_path / "pretune"
    row = {
        "source": "coco_captions",
        "id": "9",
        "media": "9.jpg",
        "media_type": "image",
        "instruction": "",
        "answer": "A",
    }
    for config, rows in (("all", [row, {**row, "id": "25"}]), ("coco_captions", [row])):
        (folder / config).mkdir(parents=True)
        (folder / config / "train.jsonl").write_text("".join(json.dumps(item) + "\n" for item in rows))
    (folder / "README.md").write_text(PRETUNE_CARD)
    return folder


def test_one_loader_reads_a_config_with_the_columns_asked_for(pretune_folder):
    columns = ("source", "id", "media", "media_type", "instruction", "answer")
    assert [row["id"] for row in load_split_rows(str(pretune_folder), "train", config="all", columns=columns)] == [
        "9",
        "25",
    ]
    assert len(load_split_rows(str(pretune_folder), "train", config="coco_captions", columns=columns)) == 1
    with pytest.raises(ValueError, match=r"has no column video$"):
        load_split_rows(str(pretune_folder), "train", config="all", columns=("video", "answer"))
    with pytest.raises(ValueError, match=r"is not an M-VAE dataset \(no column video_id, events\)"):
        load_split_rows(str(pretune_folder), "train", config="all")  # default: an M-VAE split
    with pytest.raises(ValueError, match=r"^cannot load split 'train' of dataset .* \(teleport\): "):
        load_split_rows(str(pretune_folder), "train", config="teleport", columns=columns)


def test_the_training_record_of_a_model_folder_an_adapter_export_and_the_demo(tmp_path):
    assert TRAIN_RECORD_FILE == RECORD_FILE  # one name, kept importable from `sherlock.train`
    model = tmp_path / "model"
    model.mkdir()
    (model / RECORD_FILE).write_text(json.dumps({"stage": 1, "pretuned": True}))
    export = tmp_path / "export"
    (export / "adapter").mkdir(parents=True)
    (export / "adapter" / "adapter_config.json").write_text("{}")
    (export / RECORD_FILE).write_text(json.dumps({"stage": 2, "pretuned": False}))
    assert model_training_record(str(model)) == {"stage": 1, "pretuned": True}
    assert model_training_record(str(export)) == {"stage": 2, "pretuned": False}  # the export folder's, not adapter/'s
    assert model_training_record(DEMO_MODEL) is None
    assert model_training_record(str(tmp_path)) is None  # no record
    (model / RECORD_FILE).write_text("{not json")
    assert read_training_record(model) is None  # lenient by default (loading an adapter's switches)
    with pytest.raises(ValueError, match=r"is not a readable training record"):
        model_training_record(str(model))  # stage 2 must not take a broken record for "no record"


@pytest.mark.parametrize(
    ("model", "needle"), [(DEMO_MODEL, "the demo model is built locally"), ("./base", "local path")]
)
def test_an_adapter_push_needs_a_base_on_the_hub(model, needle):
    with pytest.raises(UsageError, match=needle):
        check_pushable_base(model)
    check_pushable_base("org/base")  # a Hub id passes
