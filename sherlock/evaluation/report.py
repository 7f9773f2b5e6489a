"""The evaluation report of `sherlock evaluate`: a markdown page with the paper's tables and the plots beside it.

`write_report(output_dir, metrics, gold, predictions, durations, gate_weights=None, run_info=None)` writes:

- `report.md`: the run info; the Table 2 layout (extraction F1 of single elements, pairs and quadruples, and
  mAP@tIoU 0.1 / 0.2 / 0.3 / mean, one row); the Table 3 layout (frame-level FNRs and F2, overall and per scene,
  scenes as columns); the per-second variant (Table 4); the details (macro vs micro F1 with precision and recall,
  per-type and class-agnostic AP, counts); one line per metric definition; links to the plots; the gate-weight
  table when gate weights are given. Values are percentages with two decimals, `-` for a missing or NaN value.
- `timelines/timeline_NNN.png`: gold vs predicted segments of at most `max_timeline_videos` videos (in the order of
  `gold`), `TIMELINE_PAGE_SIZE` videos per page (older `timeline_*.png` pages there are removed);
- `per_scene_fnr.png`: the FNR of each scene, the overall FNR as a reference line;
- with gate weights: `gate_weights.csv` (`gate_weight_table`, the paper's Figure 6) and `gate_weights.png`.

`report.md` and `gate_weights.csv` are byte-identical for the same inputs (so is every PNG with the same
matplotlib: no "Software" metadata is written).
"""

import csv
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .events import JUDGE_TARGETS, EvalEvent


TIMELINE_PAGE_SIZE = 20
NO_EVENT = "(no event)"
ALL_VIDEOS = "(all videos)"
# The experts of `modeling_sherlock.configuration_sherlock.EXPERT_NAMES`, in the model's order (not imported: that
# would load transformers); other expert names follow, sorted.
EXPERT_ORDER = ("action", "object_relation", "background", "global")
TABLE2_GROUPS = (
    ("Single", ("single", "subject", "Sub."), ("single", "event_type", "Type"), ("single", "object", "Obj."),
     ("single", "scene", "Sce.")),
    ("Pair", ("pair", "subject_type", "Sub-Type"), ("pair", "object_type", "Obj-Type"),
     ("pair", "subject_scene", "Sub-Sce"), ("pair", "object_scene", "Obj-Sce")),
    ("Quadruple", ("quadruple", None, "Quad.")),
    ("mAP@tIoU", ("localization", "map@0.1", "0.1"), ("localization", "map@0.2", "0.2"),
     ("localization", "map@0.3", "0.3"), ("localization", "map_mean", "mean")),
)  # fmt: skip
DEFINITIONS = (
    "**Extraction F1** (Table 2): predicted and gold values matched within a video as multisets; the macro F1 is the "
    "mean F1 over the classes seen in gold or predictions, the micro F1 pools all events "
    "(`sherlock/evaluation/extraction.py`).",
    "**mAP@tIoU** (Table 2): ActivityNet-style AP per gold event type, score-ordered greedy matching at tIoU >= "
    "threshold, all-point interpolation, averaged over the types (`sherlock/evaluation/localization.py`).",
    "**FNRs / F2** (Tables 3, 4): frame `k` is the instant `k / fps`, positive inside the union of segments; "
    "FNR = FN / (TP + FN), F2 = 5·TP / (5·TP + 4·FN + FP), pooled over videos and per gold scene "
    "(`sherlock/evaluation/classification.py`); per second: the same at 1 fps.",
    "**Gate weights** (Figure 6): for each gold event type, the mean over the videos having it of the video's gate "
    "weight per expert (`sherlock/evaluation/report.py`).",
    'Full definitions: the README section "Evaluation" and the docstrings of these modules.',
)


def percent(value) -> str:
    """`value` (a fraction) in percent with two decimals (`0.87123` -> `"87.12"`); `-` for None, NaN or infinity."""
    if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        return "-"
    text = f"{100.0 * float(value):.2f}"
    return "0.00" if text == "-0.00" else text


def _cell(value) -> str:
    """A markdown table cell: `|` escaped, on one line."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _row(cells: Sequence) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _table(header: Sequence, rows: Sequence[Sequence], align: str = "---:") -> list[str]:
    """Markdown table lines: the first column left-aligned, the others aligned by `align`."""
    return [_row(header), "|" + "|".join(["---", *[align] * (len(header) - 1)]) + "|", *(_row(row) for row in rows)]


def _value(metrics: Mapping, group: str, key: str | None):
    if group == "quadruple":
        return metrics.get("extraction", {}).get("quadruple")
    if group == "localization":
        return metrics.get("localization", {}).get(key)
    return metrics.get("extraction", {}).get(group, {}).get(key)


def table2_lines(metrics: Mapping, label: str = "this run") -> list[str]:
    """The Table 2 layout: a header row of the column groups (Single, Pair, Quadruple, mAP@tIoU), a row of the
    column names, then one row `label` of the macro extraction F1 and the mAP in percent."""
    groups = [[name] + [""] * (len(columns) - 1) for name, *columns in TABLE2_GROUPS]
    names = [f"**{title}**" for _, *columns in TABLE2_GROUPS for _, _, title in columns]
    values = [percent(_value(metrics, group, key)) for _, *columns in TABLE2_GROUPS for group, key, _ in columns]
    return _table(["", *(cell for group in groups for cell in group)], [["", *names], [label, *values]])


def table3_lines(scores: Mapping, per_scene_f2: Mapping | None) -> list[str]:
    """The Table 3 layout: columns Overall then each scene of `scores["per_scene_fnr"]`, rows FNRs and F2 (a scene
    without an F2 in `per_scene_f2` shows `-`)."""
    scenes = list(scores.get("per_scene_fnr") or {})
    per_scene_f2 = per_scene_f2 or {}
    return _table(
        ["", "Overall", *scenes],
        [
            ["FNRs", percent(scores.get("fnr")), *(percent(scores["per_scene_fnr"][s]) for s in scenes)],
            ["F2", percent(scores.get("f2")), *(percent(per_scene_f2.get(s)) for s in scenes)],
        ],
    )


def _mean(values: Sequence) -> float | None:
    if not values or any(v is None or not math.isfinite(v) for v in values):
        return None
    return math.fsum(values) / len(values)


def _unit_row(unit: str, fnr, f2, scores: Mapping) -> list:
    """A row of the classification details: FNR, F2, precision, recall and unit counts."""
    counts = [scores.get(key, "-") for key in ("positive_frames", "frames")]
    return [unit, percent(fnr), percent(f2), percent(scores.get("precision")), percent(scores.get("recall")), *counts]


def details_lines(metrics: Mapping) -> list[str]:
    """The details section: extraction macro vs micro, per-type and class-agnostic AP, frame and second scores,
    counts and prediction-file statistics."""
    details = metrics.get("details", {})
    lines = ["### Extraction: macro vs micro", ""]
    extraction = details.get("extraction", {})
    lines += _table(
        ["target", "macro F1", "micro F1", "precision (micro)", "recall (micro)", "support"],
        [
            [target, *(percent(s.get(k)) for k in ("macro_f1", "micro_f1", "precision", "recall")), s.get("support")]
            for target, s in extraction.items()
        ],
    )
    localization = details.get("localization", {})
    agnostic = localization.get("class_agnostic", {})
    keys = [key for key in agnostic if key != "map_mean"]
    aps = [["**mAP (per type)**", *(percent(metrics.get("localization", {}).get(k)) for k in [*keys, "map_mean"])]]
    aps.append(["class-agnostic", *(percent(agnostic.get(k)) for k in [*keys, "map_mean"])])
    for event_type, per_threshold in localization.get("per_type", {}).items():
        values = [per_threshold.get(k) for k in keys]
        aps.append([event_type, *(percent(v) for v in values), percent(_mean(values))])
    lines += ["", "### Localization: AP per event type", ""]
    lines += _table(["class", *(k.removeprefix("map@") for k in keys), "mean"], aps)
    lines += [""] + [
        f"- {name.replace('_', ' ')}: {localization[name]}"
        for name in ("predictions_without_times", "predictions_without_type", "predictions_of_unknown_type")
        if name in localization
    ]
    frame, second = details.get("classification", {}), details.get("per_second", {})
    headline = metrics.get("classification", {})
    rows = [
        _unit_row(f"frame ({details.get('fps', 8.0):g} fps)", headline.get("fnr"), headline.get("f2"), frame),
        _unit_row("second", second.get("fnr"), second.get("f2"), second),
    ]
    lines += ["", "### Classification", ""]
    lines += _table(["unit", "FNRs", "F2", "precision", "recall", "gold positive units", "units"], rows)
    lines += ["", "### Counts", ""]
    lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in details.get("counts", {}).items()]
    for key, value in details.get("predictions_file", {}).items():
        if isinstance(value, Mapping):
            value = ", ".join(f"{reason}: {count}" for reason, count in value.items()) or "none"
        lines.append(f"- predictions file, {key.replace('_', ' ')}: {value}")
    return lines


@dataclass(frozen=True)
class GateRow:
    """One row of the gate-weight table: the event type (or `NO_EVENT` / `ALL_VIDEOS`), the number of videos
    averaged and the mean weight of each expert (in the table's expert order)."""

    event_type: str
    videos: int
    weights: tuple[float, ...]


def _is_weight(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0


def _expert_order(names) -> tuple[str, ...]:
    known = [name for name in EXPERT_ORDER if name in names]
    return (*known, *sorted(name for name in names if name not in EXPERT_ORDER))


def gate_weight_table(
    gold: Mapping[str, Sequence[EvalEvent]], gate_weights: Mapping[str, Mapping[str, float]]
) -> tuple[tuple[str, ...], list[GateRow]]:
    """The mean gate weight per expert and event type (the paper's Figure 6).

    The videos averaged are those of `gate_weights` (all must be gold videos). For each event type of their gold
    events, a row is the mean over the videos whose gold events include that type of the videos' weights (a video
    with two types counts in both rows); videos without a typed gold event form the row `NO_EVENT`; the last row,
    `ALL_VIDEOS`, averages every video. Rows: event types sorted by name, then `NO_EVENT` (when there is such a
    video), then `ALL_VIDEOS`. Experts: those of `EXPERT_ORDER` present, in that order, then any other sorted by
    name; an expert missing from a video counts as weight 0.0 there.

    Returns:
        `(experts, rows)`, `rows` a list of `GateRow`; `((), [])` when `gate_weights` is empty.

    Raises:
        `ValueError` for a video not in `gold` or a weight that is not a finite number >= 0.
    """
    unknown = [str(video_id) for video_id in gate_weights if video_id not in gold]
    if unknown:
        raise ValueError(f"{len(unknown)} gate-weight video(s) are not gold videos, e.g. {unknown[0]!r}.")
    for video_id, weights in gate_weights.items():
        for expert, weight in weights.items():
            if not _is_weight(weight):
                raise ValueError(
                    f"Gate weight {expert!r} of video {video_id!r} is not a finite number >= 0: {weight!r}."
                )
    experts = _expert_order({expert for weights in gate_weights.values() for expert in weights})
    groups: dict[str, list[str]] = {}
    for video_id in gate_weights:
        types = sorted({event.event_type for event in gold[video_id] if event.event_type is not None})
        for event_type in types or [NO_EVENT]:
            groups.setdefault(event_type, []).append(video_id)
    order = [*sorted(t for t in groups if t != NO_EVENT), *([NO_EVENT] if NO_EVENT in groups else [])]
    if gate_weights:
        groups[ALL_VIDEOS] = list(gate_weights)
        order.append(ALL_VIDEOS)
    rows = []
    for name in order:
        videos = groups[name]
        means = tuple(math.fsum(float(gate_weights[v].get(e, 0.0)) for v in videos) / len(videos) for e in experts)
        rows.append(GateRow(name, len(videos), means))
    return experts, rows


def write_gate_weight_csv(path: Path, experts: Sequence[str], rows: Sequence[GateRow]) -> Path:
    """Write the table as CSV: `event_type,videos,<expert>,...`, weights with 4 decimals, `\\n` line ends."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["event_type", "videos", *experts])
        for row in rows:
            writer.writerow([row.event_type, row.videos, *(f"{weight:.4f}" for weight in row.weights)])
    return Path(path)


def _info_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _timeline_caption(video_ids: Sequence[str], predictions: Mapping, gold: Mapping) -> str:
    undrawn = sum(1 for v in video_ids for e in predictions.get(v, ()) if not e.has_span)
    gold_undrawn = sum(1 for v in video_ids for e in gold.get(v, ()) if not e.has_span)
    text = f"{undrawn} predicted event(s) without times (not drawn)"
    return text + (f", {gold_undrawn} gold event(s) without times" if gold_undrawn else "")


def _timelines(directory: Path, gold, predictions, durations, max_videos: int) -> tuple[list[Path], list[str]]:
    """Write the timeline pages of the first `max_videos` videos of `gold`; returns the pages and the report lines."""
    from .report_plots import plot_timeline_page, type_colors

    directory.mkdir(parents=True, exist_ok=True)
    for stale in sorted(directory.glob("timeline_*.png")):
        stale.unlink()
    shown = list(gold)[: max(0, max_videos)]
    ends = {v: [e.end for e in (*gold[v], *predictions.get(v, ())) if e.end is not None] for v in shown}
    lengths = {v: float(durations.get(v) or max(ends[v], default=0.0)) for v in shown}
    colors = type_colors([e.event_type for v in shown for e in (*gold[v], *predictions.get(v, ())) if e.has_span])
    pages = []
    for start in range(0, len(shown), TIMELINE_PAGE_SIZE):
        ids = shown[start : start + TIMELINE_PAGE_SIZE]
        caption = f"videos {start + 1}-{start + len(ids)} of {len(gold)}; {_timeline_caption(ids, predictions, gold)}"
        pages.append(plot_timeline_page(directory / f"timeline_{len(pages) + 1:03d}.png", ids, gold, predictions,
                                        lengths, colors, caption))  # fmt: skip
    lines = [
        f"Timelines of {len(shown)} of {len(gold)} videos (at most {max_videos}, in dataset order), "
        f"{TIMELINE_PAGE_SIZE} per page: gold and predicted segments, coloured by event type, predicted bars "
        "more opaque for higher scores, zero-length segments as ticks. "
        f"{_timeline_caption(shown, predictions, gold)}.",
        "",
    ]
    lines += [f"![timeline page {i}](timelines/{page.name})" for i, page in enumerate(pages, start=1)]
    return pages, lines


def judge_lines(judges: Mapping) -> list[str]:
    """The judge scores (`sherlock evaluate --judge`), one row per judge, in percent; empty without judges."""
    if not judges:
        return []
    rows = [
        [spec, *(percent(scores.get(t)) for t in JUDGE_TARGETS), scores.get("videos", "-")]
        for spec, scores in judges.items()
    ]
    lines = ["", "## Judge scores (Video-Bench style, %)", ""]
    lines += _table(["judge", "Sub.", "Type", "Obj.", "Sce.", "Quad.", "videos"], rows)
    unparsable = {spec: s["unparsable"] for spec, s in judges.items() if any(s.get("unparsable", {}).values())}
    lines += [f"- {spec}: unparsable replies {dict(counts)}" for spec, counts in unparsable.items()]
    return lines


def render_report(
    metrics: Mapping, run_info: Mapping | None = None, gate_table=None, timeline_lines: Sequence[str] = ()
) -> str:
    """The text of `report.md`: title, run info, Tables 2-4 with the per-scene FNR chart, the gate-weight table
    (`gate_table = (experts, rows)` of `gate_weight_table`, or None), the `timeline_lines`, the metric definitions
    and the details."""
    run_info = dict(run_info or {})
    label = str(run_info.pop("system", "this run"))
    details = metrics.get("details", {})
    lines = ["# Sherlock evaluation report", ""]
    lines += [f"- **{_cell(key)}**: {_cell(_info_value(value))}" for key, value in run_info.items()]
    lines += ["", "## Table 2: extraction F1 (macro) and localization mAP (%)", "", *table2_lines(metrics, label)]
    lines += ["", f"## Table 3: frame-level classification at {details.get('fps', 8.0):g} fps (%)", ""]
    lines += table3_lines(metrics.get("classification", {}), details.get("classification", {}).get("per_scene_f2"))
    lines += ["", "![per-scene FNR](per_scene_fnr.png)"]
    per_second = details.get("per_second", {})
    lines += ["", "## Table 4: per-second classification (%)", ""]
    lines += table3_lines(per_second, per_second.get("per_scene_f2"))
    lines += judge_lines(metrics.get("judges", {}))
    if gate_table is not None and gate_table[1]:
        experts, rows = gate_table
        lines += ["", "## Gate weights per event type (Figure 6)", ""]
        body = [[row.event_type, row.videos, *(f"{w:.4f}" for w in row.weights)] for row in rows]
        lines += _table(["event type", "videos", *experts], body)
        lines += ["", "![gate weights](gate_weights.png)", "", "Table: [gate_weights.csv](gate_weights.csv)"]
    if timeline_lines:
        lines += ["", "## Timelines", "", *timeline_lines]
    lines += ["", "## Metric definitions", "", *(f"- {text}" for text in DEFINITIONS)]
    lines += ["", "## Details", "", *details_lines(metrics)]
    return "\n".join(lines) + "\n"


def write_report(
    output_dir,
    metrics: Mapping,
    gold: Mapping[str, Sequence[EvalEvent]],
    predictions: Mapping[str, Sequence[EvalEvent]],
    durations: Mapping[str, float | None],
    gate_weights: Mapping[str, Mapping[str, float]] | None = None,
    run_info: Mapping | None = None,
    max_timeline_videos: int = 100,
) -> list[Path]:
    """Write the evaluation report into `output_dir` (created if missing; see the module docstring).

    Args:
        output_dir (`str` or `Path`): the folder (e.g. the `--output-dir` of `sherlock evaluate`).
        metrics (`Mapping`): what `sherlock.evaluation.scoring.score` returns (or its `metrics.json`).
        gold, predictions (`Mapping[str, Sequence[EvalEvent]]`): the events per video; the videos are gold's, in order.
        durations (`Mapping[str, float | None]`): seconds per video; a missing one is the last event end.
        gate_weights (`Mapping[str, Mapping[str, float]]`, *optional*): `{video_id: {expert: weight}}`.
        run_info (`Mapping`, *optional*): shown at the top as `key: value` lines (dataset, split, model, timings);
            its `system` entry, if any, labels the Table 2 row instead.
        max_timeline_videos (`int`, *optional*, defaults to 100): at most this many videos get a timeline.

    Returns:
        The paths written: `report.md`, `per_scene_fnr.png`, the timeline pages, then `gate_weights.csv` and
        `gate_weights.png` when gate weights are given.

    Raises:
        `ValueError` for gate weights of a non-gold video or a bad weight (`gate_weight_table`).
    """
    from .report_plots import plot_gate_weights, plot_per_scene_fnr

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    gate_table = gate_weight_table(gold, gate_weights) if gate_weights else None
    classification = metrics.get("classification", {})
    written = [
        plot_per_scene_fnr(
            output_dir / "per_scene_fnr.png", classification.get("per_scene_fnr", {}), classification.get("fnr")
        )
    ]
    pages, timeline_lines = _timelines(output_dir / "timelines", gold, predictions, durations, max_timeline_videos)
    written += pages
    if gate_table is not None:
        written.append(write_gate_weight_csv(output_dir / "gate_weights.csv", *gate_table))
        written.append(plot_gate_weights(output_dir / "gate_weights.png", *gate_table))
    report = output_dir / "report.md"
    report.write_text(render_report(metrics, run_info, gate_table, timeline_lines), encoding="utf-8")
    return [report, *written]


__all__ = [
    "ALL_VIDEOS",
    "NO_EVENT",
    "TIMELINE_PAGE_SIZE",
    "GateRow",
    "gate_weight_table",
    "percent",
    "render_report",
    "table2_lines",
    "table3_lines",
    "write_gate_weight_csv",
    "write_report",
]
