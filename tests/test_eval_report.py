"""The evaluation report of `sherlock evaluate` (`sherlock.evaluation.report`): the paper's table layouts with
hand-computed numbers, the gate-weight table (Figure 6), the plots, byte-stable output and the timeline cap."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sherlock.evaluation.events import EvalEvent, as_events_by_video
from sherlock.evaluation.report import (
    ALL_VIDEOS,
    NO_EVENT,
    GateRow,
    gate_weight_table,
    percent,
    render_report,
    write_report,
)
from sherlock.evaluation.report_plots import plot_timeline_page, score_alpha
from sherlock.evaluation.scoring import gold_from_rows, metrics_json, score


REPO = Path(__file__).resolve().parents[1]


def event(start, end, event_type, scene, subject="person", obj="car", score=None):
    return {
        "start": start,
        "end": end,
        "subject": subject,
        "event_type": event_type,
        "object": obj,
        "scene": scene,
        "score": score,
    }


# v1 (4 s): Fighting in the Street over the whole video; v2 (2 s): Accidents on the Road over the whole video (other
# subject and object, so every extraction value differs between the videos); v3 (3 s): no event.
ROWS = [
    {"video_id": "v1", "duration": 4.0, "events": [event(0.0, 4.0, "Fighting", "Street")]},
    {"video_id": "v2", "duration": 2.0, "events": [event(0.0, 2.0, "Accidents", "Road", subject="dog", obj="bus")]},
    {"video_id": "v3", "duration": 3.0, "events": []},
]
TABLE2_COLUMNS = 13  # 4 single + 4 pairs + quadruple + 4 mAP


def gold_predictions(rows, score_value=1.0):
    return {row["video_id"]: [dict(e, score=score_value) for e in row["events"]] for row in rows}


def report_for(tmp_path, rows, predictions, name="run", **kwargs):
    """Score and write a report; returns (written paths, report text, metrics)."""
    metrics = score(rows, predictions)
    gold, durations = gold_from_rows(rows)
    written = write_report(tmp_path / name, metrics, gold, as_events_by_video(predictions), durations, **kwargs)
    return written, (tmp_path / name / "report.md").read_text(encoding="utf-8"), metrics


def cells(line: str) -> list[str]:
    """The cells of a markdown table row."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_row(text: str, first_cell: str) -> list[str]:
    """The cells after the first one of the first markdown table row starting with `first_cell`."""
    for line in text.splitlines():
        if line.startswith("|") and cells(line)[0] == first_cell:
            return cells(line)[1:]
    raise AssertionError(f"no table row {first_cell!r} in:\n{text}")


def section(text: str, title: str) -> str:
    """The text of the `## title...` section, up to the next `## ` heading."""
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else None]


def test_percent_formatting():
    assert percent(0.87123) == "87.12"
    assert percent(1) == "100.00"
    assert percent(-0.0) == "0.00"
    assert percent(None) == "-" and percent(float("nan")) == "-" and percent(float("inf")) == "-"
    assert percent(True) == "-" and percent("0.5") == "-"


def test_table2_columns_follow_the_paper():
    # Distinct values per column: each lands in its own column, in the paper's order and grouping.
    metrics = {
        "extraction": {
            "single": {"subject": 0.01, "event_type": 0.02, "object": 0.03, "scene": 0.04},
            "pair": {"subject_type": 0.05, "object_type": 0.06, "subject_scene": 0.07, "object_scene": 0.08},
            "quadruple": 0.09,
        },
        "localization": {"map@0.1": 0.10, "map@0.2": 0.11, "map@0.3": 0.12, "map_mean": 0.13},
    }
    header, _, names, values = [cells(line) for line in section(render_report(metrics), "Table 2").splitlines()[2:6]]
    assert values == ["this run", *(f"{value}.00" for value in range(1, 14))]
    assert header == ["", "Single", "", "", "", "Pair", "", "", "", "Quadruple", "mAP@tIoU", "", "", ""]
    columns = ["Sub.", "Type", "Obj.", "Sce.", "Sub-Type", "Obj-Type", "Sub-Sce", "Obj-Sce", "Quad.", "0.1", "0.2"]
    assert names == ["", *(f"**{name}**" for name in [*columns, "0.3", "mean"])]


def test_perfect_predictions_give_100_and_fnr_0(tmp_path):
    written, text, _ = report_for(tmp_path, ROWS, gold_predictions(ROWS))
    assert table_row(section(text, "Table 2"), "this run") == ["100.00"] * TABLE2_COLUMNS
    table3 = section(text, "Table 3")
    assert table_row(table3, "") == ["Overall", "Street", "Road"]  # the scenes present, in the scorer's order
    assert table_row(table3, "FNRs") == ["0.00"] * 3
    assert table_row(table3, "F2") == ["100.00"] * 3
    names = {path.relative_to(tmp_path / "run").as_posix() for path in written}
    assert names == {"report.md", "per_scene_fnr.png", "timelines/timeline_001.png"}
    assert all(path.is_file() for path in written)
    assert "gate_weights" not in text and not (tmp_path / "run" / "gate_weights.csv").exists()


def test_empty_predictions_give_0_and_fnr_100(tmp_path):
    _, text, _ = report_for(tmp_path, ROWS, {})
    assert table_row(section(text, "Table 2"), "this run") == ["0.00"] * TABLE2_COLUMNS
    assert table_row(section(text, "Table 3"), "FNRs") == ["100.00"] * 3
    assert table_row(section(text, "Table 3"), "F2") == ["0.00"] * 3
    assert table_row(section(text, "Table 4"), "FNRs") == ["100.00"] * 3


def test_hand_computed_half_right(tmp_path):
    # v1 predicted exactly, v2 missed. Extraction: every target has two classes (v1's value, F1 1; v2's, F1 0): macro
    # F1 50. mAP: Fighting AP 1, Accidents AP 0: 50 at every tIoU. Frames at 8 fps: v1 has 32 (all gold positive,
    # all predicted), v2 16 (all gold positive, none predicted), v3 24 negatives: TP 32, FN 16, FP 0, so
    # FNR = 16/48 = 33.33 and F2 = 5*32 / (5*32 + 4*16) = 71.43; Street: FNR 0, F2 100; Road: FNR 100, F2 0.
    # Per second: v1 seconds 0-3 (TP 4), v2 seconds 0-1 (FN 2): FNR 2/6 = 33.33, F2 = 20 / 28 = 71.43.
    predictions = {"v1": [event(0.0, 4.0, "Fighting", "Street", score=0.9)]}
    _, text, _ = report_for(tmp_path, ROWS, predictions, run_info={"system": "half", "dataset": "toy"})
    assert table_row(section(text, "Table 2"), "half") == ["50.00"] * TABLE2_COLUMNS
    table3 = section(text, "Table 3")
    assert table_row(table3, "FNRs") == ["33.33", "0.00", "100.00"]
    assert table_row(table3, "F2") == ["71.43", "100.00", "0.00"]
    table4 = section(text, "Table 4")
    assert table_row(table4, "FNRs") == ["33.33", "0.00", "100.00"]
    assert table_row(table4, "F2")[0] == "71.43"
    assert "- **dataset**: toy" in text and "**system**" not in text
    # Micro: TP 1 of 1 prediction and 2 gold events: P 100, R 50, F1 = 2 / 3.
    assert table_row(section(text, "Details"), "quadruple") == ["50.00", "66.67", "100.00", "50.00", "2"]
    assert table_row(section(text, "Details"), "Accidents") == ["0.00"] * 4


def test_missing_and_nan_metrics_show_a_dash(tmp_path):
    # Gold events without a type: the per-type mAP is NaN (undefined), shown as "-"; a metrics.json read back has
    # null there.
    rows = [{"video_id": "v1", "duration": 4.0, "events": [event(0.0, 2.0, None, "Street")]}]
    _, text, metrics = report_for(tmp_path, rows, gold_predictions(rows))
    assert math.isnan(metrics["localization"]["map@0.1"])
    row = table_row(section(text, "Table 2"), "this run")
    # An untyped event is no event-type class: that macro F1 falls back to the micro F1, 0 (module extraction).
    assert row[-4:] == ["-"] * 4 and row[:2] == ["100.00", "0.00"]
    reread = render_report(json.loads(metrics_json(metrics)))
    assert table_row(section(reread, "Table 2"), "this run") == row
    metrics["classification"]["per_scene_fnr"]["Street"] = None
    assert table_row(section(render_report(metrics), "Table 3"), "FNRs") == ["0.00", "-"]


# Gate weights: v1 has Fighting, v2 Robbery and Fighting (counts in both rows), v3 no event; experts given out of
# the model's order. Fighting = mean(v1, v2), Robbery = v2, (no event) = v3, (all videos) = mean of the three.
GATE_ROWS = [
    {"video_id": "v1", "duration": 4.0, "events": [event(0.0, 1.0, "Fighting", "Street")]},
    {
        "video_id": "v2",
        "duration": 4.0,
        "events": [event(0.0, 1.0, "Robbery", "Shop"), event(2.0, 3.0, "Fighting", "Shop")],
    },
    {"video_id": "v3", "duration": 4.0, "events": []},
]
GATE_WEIGHTS = {
    "v1": {"global": 0.3, "action": 0.6, "background": 0.1},
    "v2": {"global": 0.5, "action": 0.2, "background": 0.3},
    "v3": {"global": 0.25, "action": 0.5, "background": 0.25},
}
GATE_CSV = (
    "event_type,videos,action,background,global\n"
    "Fighting,2,0.4000,0.2000,0.4000\n"
    "Robbery,1,0.2000,0.3000,0.5000\n"
    "(no event),1,0.5000,0.2500,0.2500\n"
    "(all videos),3,0.4333,0.2167,0.3500\n"
)


def test_gate_weight_table_by_hand():
    gold, _ = gold_from_rows(GATE_ROWS)
    experts, rows = gate_weight_table(gold, GATE_WEIGHTS)
    assert experts == ("action", "background", "global")
    assert [(row.event_type, row.videos) for row in rows] == [
        ("Fighting", 2),
        ("Robbery", 1),
        (NO_EVENT, 1),
        (ALL_VIDEOS, 3),
    ]
    expected = [(0.4, 0.2, 0.4), (0.2, 0.3, 0.5), (0.5, 0.25, 0.25), (1.3 / 3, 0.65 / 3, 1.05 / 3)]
    for row, weights in zip(rows, expected):
        assert isinstance(row, GateRow) and row.weights == pytest.approx(weights)
    # Only gold videos with gate weights are averaged; an unknown video or a bad weight raises.
    assert gate_weight_table(gold, {"v3": GATE_WEIGHTS["v3"]})[1][0].event_type == NO_EVENT
    with pytest.raises(ValueError, match="not gold videos"):
        gate_weight_table(gold, {"v9": {"action": 1.0}})
    with pytest.raises(ValueError, match="finite number"):
        gate_weight_table(gold, {"v1": {"action": float("nan")}})


def test_gate_weight_files_and_report_are_byte_identical(tmp_path):
    predictions = gold_predictions(GATE_ROWS, score_value=0.7)
    first, text, _ = report_for(tmp_path, GATE_ROWS, predictions, "a", gate_weights=GATE_WEIGHTS)
    second, text_again, _ = report_for(tmp_path, GATE_ROWS, predictions, "b", gate_weights=GATE_WEIGHTS)
    assert (tmp_path / "a" / "gate_weights.csv").read_text(encoding="utf-8") == GATE_CSV
    assert [path.relative_to(tmp_path / "a") for path in first] == [
        path.relative_to(tmp_path / "b") for path in second
    ]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name  # report.md, CSV and (no Software metadata) the PNGs
    assert table_row(section(text, "Gate weights"), "(all videos)") == ["3", "0.4333", "0.2167", "0.3500"]
    assert "![gate weights](gate_weights.png)" in text and text == text_again


def test_pngs_open_at_a_sensible_size(tmp_path):
    written, text, _ = report_for(tmp_path, GATE_ROWS, gold_predictions(GATE_ROWS), gate_weights=GATE_WEIGHTS)
    pngs = [path for path in written if path.suffix == ".png"]
    assert {path.name for path in pngs} == {"per_scene_fnr.png", "timeline_001.png", "gate_weights.png"}
    for path in pngs:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and 400 <= image.width <= 4000 and 250 <= image.height <= 4000, path.name
        assert f"]({path.relative_to(tmp_path / 'run').as_posix()})" in text  # linked with a relative path


def test_timeline_cap_pages_and_untimed_predictions(tmp_path):
    rows = [
        {"video_id": f"video{i:02d}", "duration": 5.0, "events": [event(1.0, 2.0, "Fighting", "Street")]}
        for i in range(23)
    ]
    predictions = gold_predictions(rows, score_value=0.5)
    predictions["video00"].append({"subject": "person", "event_type": "Fighting"})  # no times: not drawable
    predictions["video20"].append({"start": 3.0, "event_type": "Fighting"})  # half a span: not drawable either
    predictions["video22"].append({"subject": "dog"})  # beyond the cap: not counted in the timelines
    written, text, _ = report_for(tmp_path, rows, predictions, max_timeline_videos=21)
    pages = [path for path in written if path.parent.name == "timelines"]
    assert [page.name for page in pages] == ["timeline_001.png", "timeline_002.png"]  # 20 + 1 videos
    with Image.open(pages[0]) as full, Image.open(pages[1]) as single:
        assert full.height > single.height
    timelines = section(text, "Timelines")
    assert "Timelines of 21 of 23 videos (at most 21" in timelines
    assert "2 predicted event(s) without times (not drawn)" in timelines
    assert "- predictions without times: 3" in section(text, "Details")
    # A smaller cap removes the older pages; a cap of 0 draws none.
    _, text, _ = report_for(tmp_path, rows, predictions, max_timeline_videos=5)
    assert sorted(path.name for path in (tmp_path / "run" / "timelines").iterdir()) == ["timeline_001.png"]
    assert "Timelines of 5 of 23 videos" in text
    written, text, _ = report_for(tmp_path, rows, predictions, max_timeline_videos=0)
    assert not any(path.parent.name == "timelines" for path in written) and "Timelines of 0 of 23" in text


def colour_pixels(path: Path, colour: str) -> int:
    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int(np.count_nonzero(np.abs(rgb.astype(int) - target).max(axis=1) <= 2))


def test_zero_length_segment_is_visible(tmp_path):
    gold = {"v": []}
    colour = "#123456"
    common = dict(video_ids=["v"], gold=gold, durations={"v": 10.0}, colors={"Fighting": colour}, caption="")
    tick = plot_timeline_page(tmp_path / "tick.png", predictions={"v": [EvalEvent(3.0, 3.0, event_type="Fighting")]},
                              **common)  # fmt: skip
    empty = plot_timeline_page(tmp_path / "empty.png", predictions={"v": []}, **common)
    assert colour_pixels(tick, colour) - colour_pixels(empty, colour) >= 20  # the legend has the colour in both


def test_score_alpha():
    assert score_alpha(None) == 1.0 and score_alpha(1.0) == 1.0 and score_alpha(0.0) == 0.25
    assert score_alpha(0.5) == pytest.approx(0.625) and score_alpha(7.0) == 1.0 and score_alpha(-3.0) == 0.25


def test_import_is_light_and_plots_use_no_pyplot(tmp_path):
    script = f"""
import sys
import sherlock.evaluation.report as report
assert "matplotlib" not in sys.modules, "matplotlib imported with the module"
from sherlock.evaluation.scoring import gold_from_rows, score
rows = [{{"video_id": "v", "duration": 2.0, "events": [{{"start": 0.0, "end": 1.0, "event_type": "Fighting"}}]}}]
gold, durations = gold_from_rows(rows)
report.write_report({str(tmp_path)!r}, score(rows, {{}}), gold, {{}}, durations, gate_weights={{"v": {{"action": 1.0}}}})
assert "matplotlib" in sys.modules and "matplotlib.pyplot" not in sys.modules
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gate_weights.png").is_file()
