"""`sherlock-build-mvae`: M-VAE built from the real CUVA annotation files shipped in `dataset_scripts/data/cuva`,
every input row accounted for, valid events, CUVA's split, an offline-loadable deterministic folder; the frame
extraction on hand-checked snippets; `--video-root`, `--with-features`, `--llm-extractor` and `--push-to-hub` on small
subsets."""

import dataclasses
import fnmatch
import hashlib
import json
import re
from importlib.metadata import entry_points
from pathlib import Path

import datasets
import openpyxl
import pytest
import yaml

import dataset_scripts
from dataset_scripts import dataset_io
from dataset_scripts.build_mvae import SHIPPED_CUVA_DIR, BuildMvaeArguments, main
from dataset_scripts.mvae_build import build_mvae
from dataset_scripts.mvae_cuva import (
    CUVA_FILES,
    REJECT_REASONS,
    ROUND1_SHEET,
    SHEET_COLUMNS,
    CuvaRow,
    RowProblem,
    pair_types_with_segments,
    parse_descriptions,
    parse_moments,
    parse_type_codes,
    parse_video_id,
    read_annotation_sheet,
)
from dataset_scripts.mvae_elements import LlmElementExtractor, extract_scene, extract_subject_object, parse_llm_reply
from dataset_scripts.mvae_features import features_config_features
from dataset_scripts.mvae_frames import EVENT_FRAMES, GENERIC_FRAME, SUBCLASS_FRAMES
from dataset_scripts.mvae_rows import MVAE_SOURCE_FIELDS, build_rows
from dataset_scripts.mvae_schema import mvae_features
from dataset_scripts.mvae_statistics import temporal_iou
from processing import DEFAULT_INSTRUCTION, format_events
from processing.vocabulary_sherlock import ENTITIES, EVENT_TYPES, SCENES

from sherlock_tester import cuva_dir
from video_factory import write_video


CUVA = cuva_dir()


def sheet_data_rows() -> list[int]:
    """Sheet row numbers of the round-1 data rows, read independently of the builder (header, 2 example rows)."""
    workbook = openpyxl.load_workbook(CUVA / "annotations.xlsx", read_only=True)
    rows = list(workbook["一轮标注"].iter_rows(values_only=True))
    workbook.close()
    assert rows[1][0] == "example" and rows[2][0] == "example"
    return [number for number, cells in enumerate(rows[3:], start=4) if any(cell is not None for cell in cells)]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def card_yaml(folder: Path) -> dict:
    text = (folder / "README.md").read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "the card has no YAML header"
    return yaml.safe_load(match.group(1))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output = tmp_path_factory.mktemp("mvae")
    return build_mvae(BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(output)))


# ------------------------------------------------------------------------------------------ the build from CUVA files


def test_every_input_row_is_in_the_dataset_or_a_row_reject(built):
    data_rows = sheet_data_rows()
    assert len(data_rows) == built.input_rows == 1006
    kept = [int(row["source"]["sheet_row"]) for row in built.rows]
    row_rejects = [reject["row"] for reject in built.rejects if reject["level"] == "row"]
    assert len(kept) + len(row_rejects) == len(data_rows)
    assert sorted(kept + row_rejects) == data_rows  # each input row exactly once
    on_disk = [json.loads(line) for line in (built.output_dir / "rejects.jsonl").read_text().splitlines()]
    assert on_disk == [json.loads(json.dumps(reject, sort_keys=True)) for reject in built.rejects]
    assert {reject["reason"] for reject in built.rejects} <= set(REJECT_REASONS)
    assert all(reject["detail"] for reject in built.rejects)


def test_known_dirt_is_rejected_with_its_reason(built):
    by_row = {reject["row"]: reject for reject in built.rejects if reject["level"] == "row"}
    sub_clips = sorted(r["video_id"] for r in by_row.values() if r["reason"] == "sub_clip_id")
    assert sub_clips == ["19-1", "19-2", "19-3", "19-4", "65-1", "65-2"]
    assert by_row[10]["reason"] == "non_code_type" and "gunfight" in by_row[10]["detail"]  # video 7: 枪战
    assert by_row[176]["reason"] == "non_code_type" and "broken video" in by_row[176]["detail"]  # 视频损坏
    assert by_row[939]["reason"] == "missing_type"  # video 930: X1 "[,]"
    assert by_row[713]["reason"] == "malformed_moment"  # video 704: "[0005,]"
    assert by_row[352]["reason"] == "malformed_moment"  # video 343: "[000,0941]" is not guessed
    segment = [r for r in built.rejects if r["level"] == "segment"]
    assert [(r["row"], r["segment"], r["reason"]) for r in segment] == [(238, 2, "malformed_moment")]
    video_229 = next(row for row in built.rows if row["video_id"] == "00229")
    assert [(e["start"], e["end"]) for e in video_229["events"]] == [(0.0, 6.0)]  # its good segment stays


def test_kept_rows_account_for_every_segment(built):
    segment_rejects = {}
    for reject in built.rejects:
        if reject["level"] == "segment":
            segment_rejects[reject["row"]] = segment_rejects.get(reject["row"], 0) + 1
    for row in built.rows:
        brackets = row["source"]["moment"].count("[")
        assert len(row["events"]) + segment_rejects.get(int(row["source"]["sheet_row"]), 0) == brackets


def test_every_accepted_event_is_valid(built):
    assert sum(len(row["events"]) for row in built.rows) > 900
    for row in built.rows:
        assert row["events"], row["video_id"]
        for event in row["events"]:
            assert 0 <= event["start"] < event["end"]
            assert event["event_type"] in EVENT_TYPES and event["scene"] in SCENES
            assert event["subject"] in ENTITIES and event["object"] in ENTITIES and event["subject"] != "none"
        assert row["answer"] == format_events(row["events"]) and row["instruction"] == DEFAULT_INSTRUCTION
        assert row["video"] == f"{row['video_id']}.mp4" and re.fullmatch(r"\d{5}", row["video_id"])
        assert row["duration"] is None
    first = built.rows[0]  # video 1: [7-1,5], [0052,0114][0118,0144], two description brackets
    assert first["video_id"] == "00001"
    assert [(e["start"], e["end"], e["event_type"], e["scene"]) for e in first["events"]] == [
        (52.0, 74.0, "Theft", "Residence"),
        (78.0, 104.0, "Theft", "Residence"),
    ]
    assert first["events"][0]["subject"] == "thief" and first["events"][0]["object"] == "property"  # a theft takes
    assert first["source"]["gt_description"].startswith("[Three masked thieves")
    assert first["source"]["frame_size"] and first["source"]["gt_result"]


def test_train_and_test_follow_splits_json(built):
    splits = json.loads((CUVA / "splits.json").read_text())
    for row in built.rows:
        assert row["video"] in splits[row["split"]]
    assert {row["split"] for row in built.rows} == {"train", "test"}
    shards = {split: built.output_dir / "default" / f"{split}-00000-of-00001.parquet" for split in ("train", "test")}
    for split, shard in shards.items():
        table = datasets.Dataset.from_parquet(str(shard))
        assert set(table["split"]) == {split}
        assert all(video in splits[split] for video in table["video"])


def test_folder_loads_offline_and_its_features_match_the_card(built, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    loaded = datasets.load_dataset(str(built.output_dir))
    assert loaded["train"].num_rows == built.statistics["videos"]["train"]
    assert loaded["test"].num_rows == built.statistics["videos"]["test"]
    header = card_yaml(built.output_dir)
    assert header["license"] == "cc-by-nc-sa-4.0"
    (info,) = [info for info in header["dataset_info"] if info["config_name"] == "default"]
    card_features = datasets.Features._from_yaml_list(info["features"])
    assert loaded["train"].features == card_features == mvae_features(MVAE_SOURCE_FIELDS)
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == {
        split: loaded[split].num_rows for split in ("train", "test")
    }
    (config,) = header["configs"]
    for files in config["data_files"]:
        assert all((built.output_dir / path).is_file() for path in files["path"])
    assert loaded["train"][0]["events"] == built.rows[0]["events"]


def test_card_states_counts_attribution_and_statistics(built):
    card = (built.output_dir / "README.md").read_text(encoding="utf-8")
    row_rejects = sum(1 for reject in built.rejects if reject["level"] == "row")
    assert f"{built.input_rows} input rows" in card
    assert f"{len(built.rows)} in the dataset + {row_rejects} rejected rows = {built.input_rows}" in card
    assert "2 `example` rows" in card
    for level, reason in {(reject["level"], reject["reason"]) for reject in built.rejects}:
        count = sum(1 for reject in built.rejects if (reject["level"], reject["reason"]) == (level, reason))
        assert f"| {level} | `{reason}` | {count} |" in card, reason
    assert "CUVA" in card and "2405.00181" in card and "CC BY-NC-SA 4.0" in card
    assert "Known differences from the paper" in card and "1348" in card
    total_events = sum(len(row["events"]) for row in built.rows)
    seconds = sum(e["end"] - e["start"] for row in built.rows for e in row["events"])
    assert f"| **All** | {built.statistics['events']['train']} |" in card
    assert f"| {total_events} | {seconds:.0f} |" in card  # Table 1 totals
    assert "Round-2 agreement" in card and "mean temporal IoU" in card
    assert built.agreement["matched"] > 500 and 0.9 < built.agreement["mean_temporal_iou"] <= 1.0
    assert not re.search(r"20\d\d-\d\d-\d\d", card), "no dates in the card (determinism)"


def test_statistics_add_up(built):
    stats = built.statistics
    events = sum(len(row["events"]) for row in built.rows)
    assert sum(cell[split][0] for cell in stats["table1"].values() for split in ("train", "test")) == events
    assert sum(counter.total() for counter in stats["event_types"].values()) == events
    per_video = stats["events_per_video"]
    assert sum(n * count for split in per_video for n, count in per_video[split].items()) == events
    assert len(stats["top_subjects"]) == 20 and stats["top_subjects"][0][1] >= stats["top_subjects"][-1][1]
    counters = built.counters
    for field in ("subject", "object", "scene"):
        assert sum(v for k, v in counters.items() if k.startswith(f"{field}_from_")) == events


def test_the_build_is_deterministic(built, tmp_path):
    build_mvae(BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path)))
    first, second = folder_bytes(built.output_dir), folder_bytes(tmp_path)
    assert sorted(first) == sorted(second)
    assert {"README.md", "rejects.jsonl", "default/train-00000-of-00001.parquet"} <= set(first)
    for name in first:
        assert first[name] == second[name], name


# --------------------------------------------------------------------------------------------------------- parsing


def test_moments_are_mmss_and_bad_segments_carry_their_reason():
    segments = parse_moments("[0052,0114][0118,0144]")
    assert [(s.start, s.end, s.problem) for s in segments] == [(52.0, 74.0, None), (78.0, 104.0, None)]
    cases = {
        "[0005,]": "malformed_moment",
        "[000,0941]": "malformed_moment",
        "[0012,20]": "malformed_moment",
        "[0005,00050]": "malformed_moment",
        "[0070,0100]": "seconds_out_of_range",
        "[0100,0059]": "end_not_after_start",
        "[0030,0030]": "end_not_after_start",
    }
    for moment, reason in cases.items():
        (segment,) = parse_moments(moment)
        assert segment.problem is not None and segment.problem.reason == reason, moment
    for empty in (None, "", "  "):
        with pytest.raises(RowProblem, match="missing_moment"):
            parse_moments(empty)


def test_type_codes_and_video_ids():
    assert parse_type_codes("[7-1,5]") == [("7-1", 5.0)]
    assert parse_type_codes("[3-1,3,]") == [("3-1", 3.0)]  # trailing comma tolerated
    assert parse_type_codes("[7-1,5] [5-2,3]") == [("7-1", 5.0), ("5-2", 3.0)]
    for text, reason in {
        "[,]": "missing_type",
        None: "missing_type",
        "枪战": "non_code_type",
        "[12-1,5]": "unknown_type_code",
    }.items():
        with pytest.raises(RowProblem) as error:
            parse_type_codes(text)
        assert error.value.reason == reason
    with pytest.raises(RowProblem) as error:
        parse_type_codes("[5-9,5]", {"5-1": "Motor"})
    assert error.value.reason == "unknown_type_code"
    assert parse_video_id(1) == "00001" and parse_video_id("734") == "00734" and parse_video_id(12.0) == "00012"
    for value, reason in {
        "19-1": "sub_clip_id",
        None: "missing_video_id",
        "abc": "malformed_video_id",
        0: "malformed_video_id",
    }.items():
        with pytest.raises(RowProblem) as error:
            parse_video_id(value)
        assert error.value.reason == reason
    assert parse_descriptions("[a,][ b]") == ["a,", "b"]
    assert parse_descriptions("[unclosed text") == ["unclosed text"]


def test_several_types_pair_in_order_or_use_the_highest_score():
    assert pair_types_with_segments([("7-1", 5.0)], 3) == (["7-1"] * 3, "single")
    assert pair_types_with_segments([("7-1", 3.0), ("5-1", 5.0)], 2) == (["7-1", "5-1"], "in_order")
    assert pair_types_with_segments([("7-1", 3.0), ("5-1", 5.0)], 3) == (["5-1"] * 3, "highest_score")
    assert pair_types_with_segments([("7-1", 5.0), ("5-1", 5.0)], 1) == (["7-1"], "highest_score")  # tie: first


def test_a_sheet_row_keeps_only_the_columns_the_build_uses(tmp_path):
    """`CuvaRow` holds the seven columns the builder reads; the `Annotator` and notes columns are not kept, but a row
    with only them filled is still a data row (rejected downstream), not a blank one."""
    assert [field.name for field in dataclasses.fields(CuvaRow)] == ["sheet_row", *SHEET_COLUMNS]
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = ROUND1_SHEET
    sheet.append(["video_id", "X1", "X2 reason", "X2 result", "X3 moment", "X3 description", "X4", "Annotator", "n"])
    sheet.append(["example", "[1-1,5]", None, None, None, None, None, "A", None])
    sheet.append(["00007", "[7-1,5]", "why", "what", "[0001,0005]", "[a thief]", "key", "annotator 3", "a note"])
    sheet.append([None] * 9)
    sheet.append([None, None, None, None, None, None, None, "annotator 4", None])
    sheet.append(["00008", "[5-1,4]"])  # a short row: the missing cells are None
    workbook.save(tmp_path / "sheet.xlsx")
    content = read_annotation_sheet(tmp_path / "sheet.xlsx", ROUND1_SHEET)
    assert (content.example_rows, content.blank_rows) == (1, 1)
    assert content.rows == [
        CuvaRow(3, "00007", "[7-1,5]", "why", "what", "[0001,0005]", "[a thief]", "key"),
        CuvaRow(5, None, None, None, None, None, None, None),
        CuvaRow(6, "00008", "[5-1,4]", None, None, None, None, None),
    ]


def _row(number, video_id, types="[7-1,5]", moment="[0001,0005]", description="[A thief stole a bag]"):
    return CuvaRow(number, video_id, types, "A man stole things.", "", moment, description, "")


def test_build_rows_duplicates_splits_and_multi_type_rows():
    splits = {f"{i:05d}.mp4": "train" for i in range(1, 5)}
    rows = [
        _row(4, 1),
        _row(5, 1),  # duplicate: the later row is rejected
        _row(6, 9),  # not in splits.json
        _row(7, 2, "[9-2,3][5-1,5]", "[0001,0005][0010,0020]", "[A forest fire broke out][A car hit a truck]"),
        _row(8, 3, "[9-2,3][5-1,5]", "[0001,0005][0010,0020][0030,0040]", "[one description for all]"),
        _row(9, 4, "[7-1,5]", "[0001,0005][0099,0100]"),  # second segment bad: segment reject, row kept
    ]
    outcome = build_rows(rows, splits)
    assert [row["video_id"] for row in outcome.rows] == ["00001", "00002", "00003", "00004"]
    reasons = [(r["level"], r["row"], r["reason"]) for r in outcome.rejects]
    assert reasons == [
        ("row", 5, "duplicate_video_id"),
        ("row", 6, "not_in_split"),
        ("segment", 9, "seconds_out_of_range"),
    ]
    in_order = outcome.rows[1]["events"]
    assert [(e["event_type"], e["scene"], e["subject"]) for e in in_order] == [
        ("Fire", "Forest", "fire"),
        ("Accidents", "Other", "car"),
    ]
    assert [e["event_type"] for e in outcome.rows[2]["events"]] == ["Accidents"] * 3  # highest score for all
    assert outcome.counters["types_in_order"] == 1 and outcome.counters["types_highest_score"] == 1
    assert outcome.counters["description_shared"] == 2  # rows 8 and 9: one description bracket, several segments
    assert len(outcome.rows) + sum(r["level"] == "row" for r in outcome.rejects) == len(rows)


def test_temporal_iou():
    assert temporal_iou([(0, 10)], [(0, 10)]) == 1.0
    assert temporal_iou([(0, 10)], [(5, 15)]) == pytest.approx(5 / 15)
    assert temporal_iou([(0, 5), (10, 15)], [(0, 15)]) == pytest.approx(10 / 15)
    assert temporal_iou([(0, 1)], [(2, 3)]) == 0.0


# -------------------------------------------------------------------------------------------- frame extraction

# (event type, sub-class, description, expected subject, expected object): each written from the labelling conventions
# of the development set (dataset_scripts/data/mvae_dev/CONVENTIONS.md), one or two per rule of the frames.
SNIPPETS = [
    ("Theft", "7-1", "Three masked thieves entered the house through the backyard to steal", "thief", "property"),
    ("Theft", "7-1", "The thief took a phone from a woman's bag on the subway", "thief", "phone"),
    ("Robbery", "6-3", "A robber on a motorcycle robbed a passing woman of her bag", "robber", "bag"),
    # passive: the agent after "by" is the subject; what follows it is not what was taken
    ("Robbery", "6-3", "A driver was robbed by a masked man with a gun while getting off the car", "man", "property"),
    ("Robbery", "6-1", "In the shop, a robber threatened the cashier with a knife", "robber", "property"),
    ("Animals", "2-3", "A man was attacked by a cat in his hand and fled the room", "cat", "man"),
    ("Animals", "2-2", "Human beings are attacked by wild animals", "wild animal", "people"),
    ("Animals", "2-1", "Dogs attacking children", "dog", "child"),
    ("Accidents", "5-1", "Four cars collided on the highway", "car", "car"),  # the other party is a car too
    ("Accidents", "5-1", "Two cars collided at the intersection and a truck overturned", "car", "car"),
    ("Accidents", "5-1", "A child climbed over a guardrail and was killed by a car crossing the road", "car", "child"),
    ("Accidents", "5-1", "A white sedan drove off the lane and collided with a truck", "car", "truck"),
    ("Accidents", "5-1", "The motorcycle fell over on the road", "motorcycle", "none"),  # never the road
    ("Fire", "9-5", "Fire trucks rushed to the burning factory", "fire", "building"),  # not the fire truck
    ("Vandalism", "4-2", "A man sprayed graffiti on the wall of a residential building", "man", "building"),
    ("Vandalism", "4-3", "Underage girl damages the hood of parked vehicles on the road", "child", "vehicle"),
    ("Pedestrian", "8-4", "Rioters smashed the windows of a shop", "crowd", "window"),  # a riot damages things
    ("Fighting", "1-1", "A man used a baseball bat to attack a passing woman in red", "man", "woman"),
    ("Fighting", "1-1", "Men were fighting in the street", "man", "man"),
    ("Pedestrian", "8-3", "An elderly woman slipped and fell on the sidewalk", "woman", "none"),
    ("Violations", "10-1", "A car ran a red light at the intersection", "car", "none"),
    ("Forbidden", "11-2", "Women smoke on the roadside while white smoke rises", "woman", "cigarette"),
    ("Forbidden", "11-1", "A person burned a piece of paper in the yard", "people", "paper"),
    ("Water", "3-2", "A yacht collided with another boat in the harbour", "boat", "boat"),
    ("Water", "3-3", "Huge waves crashed onto the shore", "water", "none"),  # water is not its own object
    ("Robbery", "6-3", "A woman was robbed of her bag by a man", "man", "bag"),  # what lies between act and "by"
    ("Accidents", "5-1", "A car hit the wall on the side of the road", "car", "facility"),  # never the road
    ("Fire", "9-1", "Two fire engines arrived and the factory burned", "fire", "building"),
]


@pytest.mark.parametrize(
    ("event_type", "code", "description", "subject", "obj"), SNIPPETS, ids=[s[2][:40] for s in SNIPPETS]
)
def test_frame_extraction_on_hand_checked_snippets(event_type, code, description, subject, obj):
    found_subject, found_object, subject_source, object_source = extract_subject_object(event_type, code, description)
    assert (found_subject, found_object) == (subject, obj)
    assert subject_source == ("event_type" if event_type == "Fire" else "description")
    defaults = {"Theft": "property", "Robbery": "property"}
    assert object_source == ("default" if obj in ("none", defaults.get(event_type)) else "description")


def test_every_entity_the_frames_use_is_in_the_shared_vocabulary():
    frames = [*EVENT_FRAMES.values(), *SUBCLASS_FRAMES.values(), GENERIC_FRAME]
    assert set(EVENT_FRAMES) == set(EVENT_TYPES)
    for frame in frames:
        used = {*frame.objects, *set().union(*frame.subjects), frame.default_object, *frame.implied_objects.values()}
        assert used <= set(ENTITIES), used - set(ENTITIES)
        assert frame.fixed_subject in (None, *ENTITIES)


def test_the_texts_are_read_in_order_then_the_subclass_then_the_frames_default():
    # the subject from the reason, the object from the description
    assert extract_subject_object("Theft", "7-1", "damaging the building and stealing property", "Four thieves broke in.") == (
        "thief", "property", "reason", "description",
    )  # fmt: skip
    # the result is read last: what was taken is told only there
    assert extract_subject_object(
        "Robbery", "6-1", "Robbers entered the shop", "They threatened the clerk", "They took the cash box and left"
    ) == ("robber", "money", "description", "result")
    # a fire's subject is fire; what burns comes from the sub-class when no text names it
    fire = "A fire broke out in a roadside residential area, and firefighters arrived"
    assert extract_subject_object("Fire", "9-4", fire) == ("fire", "house", "event_type", "subclass")
    assert extract_subject_object("Fire", "9-5", "Thick smoke rose from the roof") == (
        "smoke", "none", "event_type", "default",
    )  # fmt: skip
    # nothing named: the frame's defaults
    assert extract_subject_object("Fighting", "1-4", "Damage caused by drunkenness", "It was at night.") == (
        "people", "people", "default", "default",
    )  # fmt: skip
    assert extract_subject_object("Pedestrian", "8-3", "It was at night") == ("people", "none", "default", "default")
    # "waves of people" are people, not water
    assert extract_subject_object("Robbery", "6-1", "Shops were robbed by four waves of people")[0] == "people"
    # an unknown type: the first agent, the first other entity
    assert extract_subject_object(None, None, "A dog bit a man")[:2] == ("dog", "man")


def test_scene_from_subclass_then_text_then_other():
    assert extract_scene("7-1", "A man fought on the highway") == ("Residence", "subclass")
    assert extract_scene("5-1", "Two cars crashed on the highway") == ("Road", "description")
    assert extract_scene("5-1", "Two cars crashed", "It happened in a supermarket") == ("Shop", "reason")
    assert extract_scene("5-1", "Two cars crashed", "It was raining", "They stopped at the gas station") == (
        "Commercial", "result",
    )  # fmt: skip
    assert extract_scene("5-1", "Two cars crashed", "It was raining") == ("Other", "default")
    # "the other car" and "in public places" name no place; "the airport" does, and it is Other
    assert extract_scene("5-1", "The other car crashed in public places", "Near the school") == ("School", "reason")
    assert extract_scene("5-1", "The other car crashed in public places", "It was raining") == ("Other", "description")
    assert extract_scene("7-3", "A man fell at the airport and then on the road") == ("Other", "description")


# ------------------------------------------------------------------------------------------- videos, features, LLM


DURATIONS = {"00001": (90, 1.0), "00002": (10, 1.0), "00003": (267, 2.0)}  # frames, fps (no file for 00004)


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuva_videos")
    for video_id, (frames, fps) in DURATIONS.items():
        write_video(root / f"{video_id}.mp4", num_frames=frames, fps=fps, size=(64, 48))
    return root


def test_video_root_fills_durations_and_drops_events_past_the_end(video_root, tmp_path):
    args = BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path), video_root=str(video_root), limit=4)
    result = build_mvae(args)
    assert result.input_rows == 4
    rows = {row["video_id"]: row for row in result.rows}
    # 00001 (90 s): [0052,0114] kept, [0118,0144] = 78-104 s runs past the end.
    assert rows["00001"]["duration"] == pytest.approx(90.0)
    assert [(e["start"], e["end"]) for e in rows["00001"]["events"]] == [(52.0, 74.0)]
    # 00003 (133.5 s): [0058,0214] = 58-134 s ends within the 1 s tolerance: clipped to the duration.
    assert rows["00003"]["duration"] == pytest.approx(133.5)
    assert [(e["start"], e["end"]) for e in rows["00003"]["events"]] == [(0.0, 16.0), (58.0, 133.5)]
    rejects = {(r["level"], r["video_id"], r["reason"]) for r in result.rejects}
    assert rejects == {
        ("segment", "00001", "past_video_end"),
        ("row", "00002", "past_video_end"),  # 10 s: both segments run past it
        ("row", "00004", "video_missing"),
    }
    assert len(result.rows) + sum(r["level"] == "row" for r in result.rejects) == 4
    assert result.counters["end_clipped_to_duration"] == 1
    loaded = datasets.load_dataset(str(tmp_path), split="train")
    assert sorted(loaded["duration"]) == pytest.approx([90.0, 133.5])
    assert "clipped to the video's duration: 1" in (tmp_path / "README.md").read_text()


@pytest.fixture(scope="module")
def tiny_processor_folder(tmp_path_factory):
    from processing import SherlockProcessor
    from sherlock.tiny_extractors import tiny_extractor_models, tiny_extractor_settings
    from sherlock.tiny_models import tiny_image_processor, train_tokenizer

    folder = tmp_path_factory.mktemp("tiny_processor")
    processor = SherlockProcessor(
        image_processor=tiny_image_processor(),
        tokenizer=train_tokenizer(),
        num_frames=4,
        extractors=tiny_extractor_settings(tiny_extractor_models()),
    )
    processor.save_pretrained(folder)
    return folder


def test_with_features_writes_a_resumable_features_config(video_root, tiny_processor_folder, tmp_path, capsys):
    from processing import SherlockProcessor

    cache = tmp_path / "cache"
    args = BuildMvaeArguments(
        cuva_dir=str(CUVA),
        output_dir=str(tmp_path / "out"),
        video_root=str(video_root),
        limit=4,
        with_features=True,
        processor=str(tiny_processor_folder),
        feature_cache_dir=str(cache),
    )
    first = build_mvae(args)
    assert first.feature_counts == {"computed": 2, "skipped": 0}  # videos 00001 and 00003 are kept
    assert "expert features" in capsys.readouterr().err  # the tqdm bar
    features = datasets.load_dataset(str(tmp_path / "out"), "features", split="train")
    assert features.features == features_config_features()
    assert sorted(features["video_id"]) == ["00001", "00003"]
    record = features[0]
    assert len(record["timestamps"]) == 4 and len(record["pose_keypoints"]) == 4
    assert len(record["pose_keypoints"][0][0]) == 17 and len(record["object_boxes"][0][0]) == 4
    assert len(list(cache.rglob("*.safetensors"))) == 2
    header = card_yaml(tmp_path / "out")
    assert [config["config_name"] for config in header["configs"]] == ["default", "features"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Expert features (`features` config)" in card and "num_frames=4" in card
    assert str(tmp_path) not in card and "sherlock-tiny-extractors" not in card  # no local paths in the card
    parquet_before = (tmp_path / "out" / "features" / "train-00000-of-00001.parquet").read_bytes()

    processor = SherlockProcessor.from_pretrained(str(tiny_processor_folder))

    def no_extraction(frames):
        raise AssertionError("a video already in the cache was extracted again")

    processor.extractor_set.extract = no_extraction
    second = build_mvae(args, processor=processor)
    assert second.feature_counts == {"computed": 0, "skipped": 2}
    assert (tmp_path / "out" / "features" / "train-00000-of-00001.parquet").read_bytes() == parquet_before


def test_with_features_needs_videos_and_a_processor(tmp_path):
    with pytest.raises(ValueError, match="--video-root"):
        build_mvae(BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path), with_features=True))
    with pytest.raises(ValueError, match="--processor"):
        build_mvae(
            BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path), with_features=True, video_root=".")
        )


def test_llm_replies_are_filtered_to_the_vocabulary():
    assert parse_llm_reply("subject: two men; object: a black SUV; scene: on the highway") == {
        "subject": "man",
        "object": "car",
        "scene": "Road",
    }
    assert parse_llm_reply("Subject = a spaceship\nobject: none\nscene: the moon") == {
        "subject": None,
        "object": "none",
        "scene": None,
    }
    assert parse_llm_reply("subject: none") == {"subject": None, "object": None, "scene": None}
    assert parse_llm_reply("garbage") == {"subject": None, "object": None, "scene": None}


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sherlock.tiny_models import train_tokenizer

    folder = tmp_path_factory.mktemp("tiny_llm")
    tokenizer = train_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_llm_extractor_decodes_only_the_generated_reply_and_its_answer_is_used(built, tiny_llm, tmp_path, monkeypatch):
    """The real model path (prompt, tokenizer, greedy `generate`, decoding of the new tokens only): the random tiny LLM
    generates, then its new tokens are replaced by a scripted reply whose elements differ from every deterministic value,
    so the rows show whether the LLM path (and not the frames) gave them."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    reply = "subject: dog; object: phone; scene: zoo"
    generate, calls = LlamaForCausalLM.generate, []

    def scripted_generate(self, input_ids, **kwargs):
        output = generate(self, input_ids=input_ids, **kwargs)  # the real greedy decoding runs
        assert kwargs["do_sample"] is False and output.shape[1] > input_ids.shape[1]
        calls.append(input_ids)
        new_tokens = torch.tensor([tokenizer(reply, add_special_tokens=False)["input_ids"]])
        return torch.cat([input_ids, new_tokens], dim=1)

    extract, replies, results = LlmElementExtractor.generate, [], []

    def recording_extract(self, description, reason, result):
        results.append(result)
        replies.append(extract(self, description, reason, result))
        return replies[-1]

    monkeypatch.setattr(LlamaForCausalLM, "generate", scripted_generate)
    monkeypatch.setattr(LlmElementExtractor, "generate", recording_extract)
    args = BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path), limit=3, llm_extractor=str(tiny_llm))
    result = build_mvae(args)
    events = [(row, event) for row in result.rows for event in row["events"]]
    assert len(calls) == len(replies) == len(events) > 0  # one generation per distinct event text
    assert replies == [reply] * len(events)  # the decoded text is the new tokens only, not the prompt
    prompt = tokenizer.decode(calls[0][0])
    assert "Extract the subject" in prompt and "Subject and object are among: people, man, woman" in prompt
    assert results == [row["source"]["result"] for row, _ in events]  # CUVA's result answer is in the prompt
    assert f"Result: {results[0].strip()[:40]}" in prompt
    frames = {(e["subject"], e["object"], e["scene"]) for row in built.rows[:3] for e in row["events"]}
    assert [row["video_id"] for row in built.rows[:3]] == [row["video_id"] for row in result.rows]
    assert not {(s, o) for s, o, _ in frames} & {("dog", "phone")} and "Wild" not in {e[2] for e in frames}
    for row, event in events:
        subclass_scene = row["source"]["type_codes"].startswith("[7-1")  # 7-1 Residential names the scene
        assert (event["subject"], event["object"]) == ("dog", "phone")
        assert event["scene"] == ("Residence" if subclass_scene else "Wild")
    assert result.counters["subject_from_llm"] == result.counters["object_from_llm"] == len(events)
    assert 0 < result.counters["scene_from_llm"] < len(events)
    card = (tmp_path / "README.md").read_text()
    assert f"LLM extraction** with `{Path(tiny_llm).name}`" in card and str(tiny_llm) not in card


def test_llm_answers_in_the_vocabulary_replace_the_frames_but_not_the_subclass_scene(tiny_llm, tmp_path, monkeypatch):
    reply = "subject: two men; object: a black SUV; scene: on the highway"
    monkeypatch.setattr(LlmElementExtractor, "generate", lambda self, description, reason, result: reply)
    args = BuildMvaeArguments(cuva_dir=str(CUVA), output_dir=str(tmp_path), limit=1, llm_extractor=str(tiny_llm))
    result = build_mvae(args)
    events = result.rows[0]["events"]  # video 1: 7-1 Residential
    assert {(e["subject"], e["object"], e["scene"]) for e in events} == {("man", "car", "Residence")}
    assert result.counters["subject_from_llm"] == result.counters["object_from_llm"] == len(events)
    assert result.counters["scene_from_subclass"] == len(events)


# ------------------------------------------------------------------------------------------------------ CLI and Hub


def test_cli_with_dashes_and_push_to_hub(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_push(folder, repo_id, token=None, endpoint=None, private=False, commit_message="Upload dataset"):
        calls.append({"folder": Path(folder), "repo_id": repo_id, "token": token, "endpoint": endpoint})
        assert (Path(folder) / "README.md").is_file()  # pushed after the card is written
        return "http://hub.test/datasets/org/m-vae/commit/1"

    monkeypatch.setattr(dataset_io, "push_dataset_folder", fake_push)
    argv = ["--output-dir", str(tmp_path), "--limit", "3"]  # no --cuva-dir: the CUVA files shipped in the package
    argv += ["--push-to-hub", "org/m-vae", "--hub-endpoint", "http://hub.test", "--hub-token", "hf_x"]
    assert main(argv) == 0
    assert calls == [{"folder": tmp_path, "repo_id": "org/m-vae", "token": "hf_x", "endpoint": "http://hub.test"}]
    out = capsys.readouterr().out
    assert "input rows: 3" in out and "| Scene |" in out and "uploaded: http://hub.test" in out
    rows = datasets.load_dataset(str(tmp_path), split="train")
    assert rows["video_id"] == ["00001", "00002", "00003"]
    assert rows[0]["source"]["gt_description"].startswith("[Three masked thieves")  # read from the shipped files
    card = (tmp_path / "README.md").read_text()
    for name in CUVA_FILES:  # the card's input hashes are those of the shipped copy
        assert hashlib.sha256((SHIPPED_CUVA_DIR / name).read_bytes()).hexdigest() in card, name


def test_the_cuva_files_ship_inside_the_package_with_their_licence():
    package = Path(dataset_scripts.__file__).resolve().parent
    assert CUVA == SHIPPED_CUVA_DIR == package / "data" / "cuva"
    assert BuildMvaeArguments(output_dir="out").cuva_dir == str(SHIPPED_CUVA_DIR)  # the default --cuva-dir
    shipped = sorted(path.name for path in SHIPPED_CUVA_DIR.iterdir())
    assert shipped == sorted([*CUVA_FILES, "LICENSE", "SOURCE.md"])
    licence = (SHIPPED_CUVA_DIR / "LICENSE").read_text()
    assert "CC BY-NC-SA 4.0" in licence and "creativecommons.org/licenses/by-nc-sa/4.0" in licence
    assert "2405.00181" in licence and "github.com/fesvhtr/CUVA" in licence and "github.com/Dulpy/ECVA" in licence
    # package data: a `pip install` copies every shipped file (setuptools globs, relative to the package)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    pyproject = tomllib.loads((package.parent / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["dataset_scripts"]
    for name in shipped:
        relative = (SHIPPED_CUVA_DIR / name).relative_to(package).as_posix()
        assert any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns), relative


def test_names_of_the_split_builder_stay_importable_from_the_cli_module():
    from dataset_scripts import build_mvae as cli
    from dataset_scripts import mvae_build, mvae_cuva, mvae_elements, mvae_rows, mvae_statistics

    origins = {
        mvae_build: ["BuildResult", "build_mvae"],
        mvae_cuva: ["parse_moments", "parse_type_codes", "parse_video_id"],
        mvae_elements: ["LlmElementExtractor", "extract_scene", "extract_subject_object", "parse_llm_reply"],
        mvae_rows: ["build_rows"],
        mvae_statistics: ["compute_statistics", "round2_agreement", "temporal_iou"],
    }
    for module, names in origins.items():
        for name in names:
            assert getattr(cli, name) is getattr(module, name), name
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        cli.no_such_name  # noqa: B018


def test_console_script_is_declared():
    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "sherlock-build-mvae"]
    assert script.value == "dataset_scripts.build_mvae:main"


def test_module_doctests_pass():
    import doctest

    from dataset_scripts import mvae_elements, mvae_frames

    for module in (mvae_frames, mvae_elements):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
