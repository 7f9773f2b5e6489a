"""`sherlock-build-pretune`: small fixture trees in each source's public format (HumanML3D, Ref-L4, RSI-CB, COCO
captions), dirty items included, built into the `pretune` dataset and read back offline."""

import json
import re
from collections import Counter
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dataset_scripts import build_pretune, dataset_io
from dataset_scripts.build_pretune import PretuneArguments
from dataset_scripts.pretune_sources import (
    INSTRUCTIONS,
    SOURCES,
    convert_humanml3d,
    convert_ref_l4,
    normalize_box,
    pretune_features,
    sample_rows,
)


build = build_pretune.build_pretune


# ------------------------------------------------------------------------------------------------- fixture trees

TOKENS = "a/DET person/NOUN walk/VERB"


def _image(path: Path, size=(8, 6), fmt=None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 30)).save(path, format=fmt)


def make_humanml3d(root: Path) -> dict:
    """14 input units -> 6 rows + 8 rejects."""
    (root / "texts").mkdir(parents=True)
    (root / "train.txt").write_text("000001\n000002\nM000001\n000004\n")
    (root / "val.txt").write_text("000003\n000001\n")  # 000001 again: duplicate_id
    (root / "test.txt").write_text("000005\n")  # texts but no motion file
    (root / "all.txt").write_text("000001\n000002\nM000001\n000004\n000003\n000005\n")  # ignored
    for motion_id in ("000001", "000002", "M000001"):
        (root / "new_joints").mkdir(exist_ok=True)
        np.save(root / "new_joints" / f"{motion_id}.npy", np.zeros((4, 22, 3), np.float32))
    (root / "new_joint_vecs").mkdir()
    np.save(root / "new_joint_vecs" / "000003.npy", np.zeros((4, 263), np.float32))  # only the 263-d features
    texts = {
        "000001": [
            f"a man walks forward.#{TOKENS}#0.0#0.0",
            f"a person walks slowly forward#{TOKENS}#0.0#0.0",
            f"the man waves his right hand#{TOKENS}#1.5#3.0",
        ],
        "000002": [
            f"a person jumps up and down#{TOKENS}#nan#nan",
            f"#{TOKENS}#0.0#0.0",  # empty caption
            f"someone kicks with the left leg#{TOKENS}#3.0#1.0",  # end before start
            "a broken line without fields",
        ],
        "M000001": [f"a man walks forward.#{TOKENS}#0.0#0.0"],
        "000003": [f"a person runs in a circle#{TOKENS}#0.0#0.0"],
        "000005": [f"a person sits down#{TOKENS}#0.0#0.0", f"someone sits on a chair#{TOKENS}#0.0#0.0"],
        "000009": [f"a person crawls#{TOKENS}#0.0#0.0"],  # in no split file
    }
    for motion_id, lines in texts.items():
        (root / "texts" / f"{motion_id}.txt").write_text("\n".join(lines) + "\n")
    reasons = ["empty_answer", "bad_time", "malformed_line", "missing_text", "duplicate_id", "missing_media",
               "missing_media", "unknown_split"]  # fmt: skip
    return {"inputs": 14, "rows": 6, "reasons": Counter(reasons)}


REF_L4_COLUMNS = ["id", "caption", "bbox", "bbox_area", "bbox_id", "ori_category_id", "image_id", "height", "width",
                  "file_name", "is_rewrite", "split"]  # fmt: skip


def _ref_l4_record(id, caption, bbox, file_name, width, height, split):
    return {
        "id": id,
        "caption": caption,
        "bbox": bbox,
        "bbox_area": float(bbox[2] * bbox[3]),
        "bbox_id": f"coco_{id}",
        "ori_category_id": "refcoco_1",
        "image_id": Path(file_name).stem,
        "height": height,
        "width": width,
        "file_name": file_name,
        "is_rewrite": False,
        "split": split,
    }


REF_L4_VAL = [
    _ref_l4_record(1, "The man on the motorcycle closest to the camera.", [163.48, 123.16, 139.51, 271.38],
                   "COCO_train2014_000000128974.jpg", 640, 485, "val"),
    _ref_l4_record(2, "The dog lying in the bottom right corner.", [600.5, 400.0, 40.0, 85.5],
                   "COCO_train2014_000000128974.jpg", 640, 485, "val"),  # overshoots by 0.5 px: clipped
    _ref_l4_record(3, "A cup far outside.", [500.0, 300.0, 300.0, 100.0],
                   "COCO_train2014_000000128974.jpg", 640, 485, "val"),  # leaves the image: bad_box
    _ref_l4_record(4, "   ", [10.0, 10.0, 20.0, 20.0], "COCO_train2014_000000128974.jpg", 640, 485, "val"),
    _ref_l4_record(5, "A lamp.", [10.0, 10.0, 20.0, 20.0], "o365_missing.jpg", 640, 480, "val"),
]  # fmt: skip
REF_L4_TEST = [
    _ref_l4_record(6, "The  red car\n parked by the curb.", [0.0, 384.0, 512.0, 384.0],
                   "objects365_v2_00908726.jpg", 1024, 768, "test"),
    _ref_l4_record(7, "A tree.", [1.0, 1.0, 2.0, 2.0], "objects365_v2_00908726.jpg", 1024, 768, "train"),
    _ref_l4_record(8, "A flat box.", [5.0, 5.0, 0.0, 4.0], "objects365_v2_00908726.jpg", 1024, 768, "test"),
]  # fmt: skip


def make_ref_l4(root: Path) -> dict:
    """8 annotations -> 3 rows + 5 rejects; one image in images/, one next to the parquet files."""
    root.mkdir(parents=True)
    for name, records in (("ref-l4-val.parquet", REF_L4_VAL), ("ref-l4-test.parquet", REF_L4_TEST)):
        pq.write_table(pa.Table.from_pylist(records), root / name)
    _image(root / "images" / "COCO_train2014_000000128974.jpg", (64, 48))
    _image(root / "objects365_v2_00908726.jpg", (64, 48))
    reasons = ["bad_box", "empty_answer", "missing_media", "unknown_split", "bad_box"]
    return {"inputs": 8, "rows": 3, "reasons": Counter(reasons)}


def make_rsi_cb(root: Path) -> dict:
    """9 files (+ a hidden one) -> 5 rows + 4 rejects; two-level and one-level class folders."""
    for relative in ("transportation/airport_runway/airport_runway(1).tif",
                     "transportation/airport_runway/airport_runway(2).tif",
                     "transportation/avenue/avenue_1.tif",
                     "water_area/sea/sea_001.tif",
                     "Snow-Mountain/snow_01.tif"):  # fmt: skip
        _image(root / relative, fmt="TIFF")
    (root / "construction_land" / "city_building").mkdir(parents=True)
    (root / "construction_land" / "city_building" / "empty.tif").write_bytes(b"")
    (root / "water_area" / "river").mkdir(parents=True)
    (root / "water_area" / "river" / "gone.tif").symlink_to(root / "nowhere" / "gone.tif")
    _image(root / "stray.tif", fmt="TIFF")
    (root / "transportation" / "airport_runway" / "notes.txt").write_text("not an image")
    (root / "transportation" / ".DS_Store").write_bytes(b"\0")
    reasons = ["empty_media", "missing_media", "no_class", "not_image"]
    return {"inputs": 9, "rows": 5, "reasons": Counter(reasons)}


COCO_CAPTIONS = {
    "info": {"description": "COCO 2017 Dataset", "year": 2017},
    "licenses": [{"id": 1, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"}],
    "images": [
        {"id": 9, "file_name": "000000000009.jpg", "width": 640, "height": 480, "license": 1},
        {"id": 25, "file_name": "000000000025.jpg", "width": 640, "height": 426, "license": 1},
        {"id": 30, "file_name": "000000000030.jpg", "width": 640, "height": 428, "license": 1},  # no file
    ],
    "annotations": [
        {"id": 1, "image_id": 9, "caption": "A man riding a wave on top of a surfboard. "},
        {"id": 2, "image_id": 9, "caption": "A  surfer\nriding a wave."},
        {"id": 3, "image_id": 25, "caption": "A giraffe eating food from the top of a tree."},
        {"id": 4, "image_id": 30, "caption": "A vase of flowers."},
        {"id": 5, "image_id": 25, "caption": "   "},
        {"id": 6, "image_id": 999, "caption": "An image nobody has."},
        {"id": 3, "image_id": 25, "caption": "A giraffe again."},
    ],
}


def make_coco(root: Path) -> dict:
    """7 caption annotations -> 3 rows + 4 rejects."""
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "captions_train2017.json").write_text(json.dumps(COCO_CAPTIONS))
    for name in ("000000000009.jpg", "000000000025.jpg"):
        _image(root / "train2017" / name)
    reasons = ["missing_media", "empty_answer", "unknown_image", "duplicate_id"]
    return {"inputs": 7, "rows": 3, "reasons": Counter(reasons)}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    expected = {
        "humanml3d": make_humanml3d(base / "HumanML3D"),
        "ref_l4": make_ref_l4(base / "Ref-L4"),
        "rsi_cb": make_rsi_cb(base / "RSI-CB256"),
        "coco_captions": make_coco(base / "coco"),
    }
    roots = {
        "humanml3d": base / "HumanML3D",
        "ref_l4": base / "Ref-L4",
        "rsi_cb": base / "RSI-CB256",
        "coco_captions": base / "coco" / "train2017",
    }
    return {"base": base, "expected": expected, "roots": roots}


def _arguments(sources, output_dir, **overrides) -> PretuneArguments:
    base = sources["base"]
    values = dict(
        output_dir=str(output_dir),
        humanml3d_dir=str(base / "HumanML3D"),
        ref_l4_dir=str(base / "Ref-L4"),
        rsi_cb_dir=str(base / "RSI-CB256"),
        coco_captions_file=str(base / "coco" / "annotations" / "captions_train2017.json"),
        coco_images_dir=str(base / "coco" / "train2017"),
        max_per_source=0,
        seed=0,
    )
    values.update(overrides)
    return PretuneArguments(**values)


def _parquet_rows(folder: Path, config: str) -> list[dict]:
    rows = []
    for path in sorted((folder / config).glob("train-*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def _rejects(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "rejects.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def built(sources, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretune")
    build(_arguments(sources, folder))
    return folder


# ------------------------------------------------------------------------------------------------------------ tests


def test_rows_and_rejects_account_for_every_input(built, sources):
    rejects = _rejects(built)
    for source in SOURCES:
        expected = sources["expected"][source]
        rows = _parquet_rows(built, source)
        source_rejects = [reject for reject in rejects if reject["source"] == source]
        assert len(rows) == expected["rows"], source
        assert Counter(reject["reason"] for reject in source_rejects) == expected["reasons"], source
        assert len(rows) + len(source_rejects) == expected["inputs"], source
        assert len({row["id"] for row in rows}) == len(rows)  # ids unique within the source
        # a rejected item is not also a row (a duplicate_id reject repeats the id of the row it duplicates)
        assert not {row["id"] for row in rows} & {r["id"] for r in source_rejects if r["reason"] != "duplicate_id"}
    reject_ids = {(reject["source"], reject["reason"]): reject["id"] for reject in rejects}
    assert reject_ids[("humanml3d", "unknown_split")] == "000009"
    assert reject_ids[("humanml3d", "bad_time")] == "000002#2"
    assert reject_ids[("ref_l4", "unknown_split")] == "7"
    assert reject_ids[("coco_captions", "unknown_image")] == "6"
    assert reject_ids[("rsi_cb", "no_class")] == "stray.tif"


def test_instructions_are_the_papers_strings_and_boxes_are_normalised(built):
    assert INSTRUCTIONS == {
        "humanml3d": "Judge the action of the characters",
        "ref_l4": "Describe the image region <objs>",
        "rsi_cb": "Judge the background of the image",
        "coco_captions": "Describe the image",
    }
    for source in ("humanml3d", "rsi_cb", "coco_captions"):
        for row in _parquet_rows(built, source):
            assert row["instruction"] == INSTRUCTIONS[source] and row["regions"] == []
    pattern = re.compile(r"^Describe the image region \[(\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3})\]$")
    regions = {}
    for row in _parquet_rows(built, "ref_l4"):
        match = pattern.match(row["instruction"])
        assert match, row["instruction"]
        (region,) = row["regions"]
        assert [float(value) for value in match.groups()] == region
        assert all(0.0 <= value <= 1.0 for value in region) and region[0] <= region[2] and region[1] <= region[3]
        regions[row["id"]] = row["instruction"]
    assert regions == {
        "1": "Describe the image region [0.255, 0.254, 0.473, 0.813]",
        "2": "Describe the image region [0.938, 0.825, 1.000, 1.000]",  # 0.5 px overshoot clipped
        "6": "Describe the image region [0.000, 0.500, 0.500, 1.000]",
    }


def test_answers_and_segments_follow_the_source_formats(built):
    humanml3d = {row["id"]: row for row in _parquet_rows(built, "humanml3d")}
    assert humanml3d["000001#0"]["answer"] == "a man walks forward."
    assert (humanml3d["000001#0"]["start"], humanml3d["000001#0"]["end"]) == (None, None)  # 0.0#0.0: whole clip
    assert (humanml3d["000001#2"]["start"], humanml3d["000001#2"]["end"]) == (1.5, 3.0)  # a captioned segment
    assert (humanml3d["000002#0"]["start"], humanml3d["000002#0"]["end"]) == (None, None)  # nan#nan read as 0.0
    assert humanml3d["000003#0"]["media"] == "new_joint_vecs/000003.npy"  # no new_joints file: the features
    assert humanml3d["000001#0"]["media"] == "new_joints/000001.npy"
    assert {row["source_split"] for row in humanml3d.values()} == {"train", "val"}
    assert humanml3d["000003#0"]["source_split"] == "val" and humanml3d["000001#0"]["source_split"] == "train"
    assert {row["media_type"] for row in humanml3d.values()} == {"motion"}

    rsi_cb = {row["id"]: row["answer"] for row in _parquet_rows(built, "rsi_cb")}
    assert rsi_cb == {
        "Snow-Mountain/snow_01.tif": "snow mountain",
        "transportation/airport_runway/airport_runway(1).tif": "airport runway",
        "transportation/airport_runway/airport_runway(2).tif": "airport runway",
        "transportation/avenue/avenue_1.tif": "avenue",
        "water_area/sea/sea_001.tif": "sea",
    }
    coco = {row["id"]: row for row in _parquet_rows(built, "coco_captions")}
    assert coco["1"]["answer"] == "A man riding a wave on top of a surfboard."
    assert coco["2"]["answer"] == "A surfer riding a wave."  # white space collapsed
    assert {row["source_split"] for row in coco.values()} == {"train"}
    ref_l4 = {row["id"]: row for row in _parquet_rows(built, "ref_l4")}
    assert ref_l4["6"]["answer"] == "The red car parked by the curb."
    assert ref_l4["6"]["source_split"] == "test" and ref_l4["1"]["source_split"] == "val"


def test_media_paths_exist_relative_to_the_source_roots(built, sources):
    for source in SOURCES:
        rows = _parquet_rows(built, source)
        assert rows
        for row in rows:
            media = Path(row["media"])
            assert not media.is_absolute() and ".." not in media.parts
            assert (sources["roots"][source] / media).is_file(), (source, row["media"])
    ref_l4 = {row["id"]: row["media"] for row in _parquet_rows(built, "ref_l4")}
    assert ref_l4["1"] == "images/COCO_train2014_000000128974.jpg"
    assert ref_l4["6"] == "objects365_v2_00908726.jpg"  # extracted next to the annotations
    assert not list(built.rglob("*.jpg")) and not list(built.rglob("*.npy"))  # media are never copied


def test_load_dataset_offline_reads_every_config_with_the_features(built, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    features = pretune_features()
    loaded = {}
    for config in (*SOURCES, "all"):
        dataset = datasets.load_dataset(str(built), config, split="train", cache_dir=str(tmp_path / "cache"))
        assert dataset.features == features, config
        loaded[config] = dataset.to_list()
        if config != "all":
            assert {row["source"] for row in loaded[config]} == {config}
            assert loaded[config] == _parquet_rows(built, config)
    assert loaded["all"] == [row for source in SOURCES for row in loaded[source]]
    default = datasets.load_dataset(str(built), split="train", cache_dir=str(tmp_path / "cache"))
    assert default.to_list() == loaded["all"]


def test_max_per_source_is_a_seeded_deterministic_sample(sources, built, tmp_path):
    full = convert_humanml3d(sources["base"] / "HumanML3D").rows
    assert len(full) == 6
    picks = {seed: sample_rows(full, 2, seed, "humanml3d") for seed in range(6)}
    assert all(len(rows) == 2 for rows in picks.values())
    assert picks[0] == sample_rows(full, 2, 0, "humanml3d")  # same seed, same rows
    assert len({tuple(row["id"] for row in rows) for rows in picks.values()}) > 1  # other seeds, other rows
    for rows in picks.values():  # a subset, in source order
        indices = [full.index(row) for row in rows]
        assert indices == sorted(indices)
    assert sample_rows(full, 0, 0, "humanml3d") == full and sample_rows(full, 10, 0, "humanml3d") == full

    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((first, 3), (second, 3), (other, 4)):
        build(_arguments(sources, folder, max_per_source=2, seed=seed))
    for source in SOURCES:
        kept = _parquet_rows(first, source)
        assert len(kept) == 2 and kept == _parquet_rows(second, source)
        assert kept == sample_rows(_parquet_rows(built, source), 2, 3, source)  # the uncapped rows, sampled
    assert any(_parquet_rows(first, source) != _parquet_rows(other, source) for source in SOURCES)
    card = (first / "README.md").read_text()
    assert "| HumanML3D | 6 | 2 |" in card and "| RSI-CB | 5 | 2 |" in card  # N available -> M kept
    assert len(_rejects(first)) == sum(sum(e["reasons"].values()) for e in sources["expected"].values())  # not rejects


def test_two_builds_give_identical_bytes(sources, built, tmp_path):
    again = tmp_path / "again"
    build(_arguments(sources, again))
    files = sorted(path.relative_to(built).as_posix() for path in built.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(again).as_posix() for path in again.rglob("*") if path.is_file())
    assert "README.md" in files and "rejects.jsonl" in files and len(files) == 2 + len(SOURCES)
    for name in files:
        assert (built / name).read_bytes() == (again / name).read_bytes(), name


def test_card_states_sources_counts_and_configs(sources, tmp_path):
    folder = tmp_path / "partial"
    (folder / "coco_captions").mkdir(parents=True)  # a config of an earlier build: removed
    (folder / "coco_captions" / "train-00000-of-00001.parquet").write_bytes(b"stale")
    build(_arguments(sources, folder, coco_captions_file=None, coco_images_dir=None, ref_l4_dir=None))
    card = (folder / "README.md").read_text()
    header = card.split("---")[1]
    assert re.findall(r"config_name: (\S+)", header) == ["all", "humanml3d", "rsi_cb"]
    assert "default: true" in header and not (folder / "coco_captions").exists()
    assert "Included: HumanML3D, RSI-CB. Skipped (not given): Ref-L4, COCO captions." in card
    assert "| HumanML3D | 14 | 6 | 8 |" in card  # inputs, rows, rejected
    assert "| HumanML3D | `missing_media` | 2 |" in card and "| RSI-CB | `not_image` | 1 |" in card
    assert "| HumanML3D | train | 5 |" in card and "| HumanML3D | val | 1 |" in card
    assert "| RSI-CB | (none) | 5 |" in card
    assert "| HumanML3D | captions with nan times read as 0.0 | 1 |" in card
    # top answer words: per word, function words ("a", "the", "his", ...) left out, ties alphabetical
    assert "| RSI-CB | airport (2), runway (2), avenue (1), mountain (1), sea (1), snow (1) |" in card
    assert (
        "| HumanML3D | forward (3), man (3), person (3), walks (3), circle (1), down (1), hand (1), jumps (1), "
        "right (1), runs (1) |" in card
    )
    assert {reject["source"] for reject in _rejects(folder)} == {"humanml3d", "rsi_cb"}


def test_cli_pushes_the_folder_with_the_hub_arguments(sources, tmp_path, monkeypatch, capsys):
    calls = []

    def fake_push(folder, repo_id, **kwargs):
        calls.append((folder, repo_id, kwargs))
        return "http://hub.local/commit/1"

    monkeypatch.setattr(dataset_io, "push_dataset_folder", fake_push)
    out = tmp_path / "pushed"
    code = build_pretune.main(
        ["--output-dir", str(out), "--rsi-cb-dir", str(sources["base"] / "RSI-CB256"), "--max-per-source", "3",
         "--push-to-hub", "org/sherlock-pretune", "--hub-endpoint", "http://hub.local", "--hub-token", "hf_test"]
    )  # fmt: skip
    assert code == 0
    assert len(calls) == 1
    folder, repo_id, kwargs = calls[0]
    assert Path(folder) == out and repo_id == "org/sherlock-pretune"
    assert kwargs["endpoint"] == "http://hub.local" and kwargs["token"] == "hf_test" and kwargs["private"] is False
    assert (out / "README.md").is_file() and len(_parquet_rows(out, "rsi_cb")) == 3  # built before the upload
    summary = json.loads(capsys.readouterr().out)
    assert summary["commit_url"] == "http://hub.local/commit/1" and summary["kept"] == {"rsi_cb": 3}

    calls.clear()
    assert build_pretune.main(["--output-dir", str(tmp_path / "none")]) == 1  # no source given
    assert "sherlock-build-pretune: error: no source given" in capsys.readouterr().err
    assert (
        build_pretune.main(["--output-dir", str(tmp_path / "x"), "--coco-captions-file", str(tmp_path / "c.json")])
        == 1
    )  # images folder missing
    assert "need both --coco-captions-file and --coco-images-dir" in capsys.readouterr().err and not calls


def test_ref_l4_file_input_and_box_rules(sources, tmp_path):
    root = sources["base"] / "Ref-L4"
    from_folder = convert_ref_l4(root)
    single = tmp_path / "ref-l4-val.json"
    single.write_text(json.dumps(REF_L4_VAL))
    (tmp_path / "images").symlink_to(root / "images")
    from_file = convert_ref_l4(single)
    assert from_file.rows == [row for row in from_folder.rows if row["source_split"] == "val"]
    assert from_file.inputs == len(REF_L4_VAL)

    assert normalize_box([0, 0, 640, 480], 640, 480) == ([0.0, 0.0, 1.0, 1.0], "")
    assert normalize_box([-0.9, 0, 10, 10], 640, 480)[0] == [0.0, 0.0, 0.014, 0.021]  # within 1 px: clipped
    assert normalize_box([-1.5, 0, 10, 10], 640, 480) == (None, "bad_box")
    assert normalize_box([0, 0, float("nan"), 10], 640, 480) == (None, "bad_box")
    assert normalize_box([0, 0, 10], 640, 480) == (None, "bad_box")
    assert normalize_box([0, 0, 10, -1], 640, 480) == (None, "bad_box")
    assert normalize_box([0, 0, 10, 10], None, 480) == (None, "bad_image_size")
    assert normalize_box([0, 0, 10, 10], 0, 480) == (None, "bad_image_size")
