"""Statistics of an M-VAE build and their markdown tables (the dataset card and the console summary).

- Table 1 of the paper (events and event seconds per scene and split), event types, the top-20 elements (Figure 1c /
  4), quadruples per video, reject counts.
- **Round 2** is never data: `round2_agreement` reports its agreement with round 1 (type class / sub-class agreement,
  temporal IoU of the union of the moments).
"""

from collections import Counter
from collections.abc import Sequence

from dataset_scripts.dataset_io import markdown_table
from dataset_scripts.mvae_cuva import REJECT_REASONS, SPLITS, CuvaRow, RowProblem, parse_moments, parse_type_codes
from dataset_scripts.mvae_devset import SLOTS
from processing.vocabulary_sherlock import CUVA_CLASS_NAMES, EVENT_TYPES, SCENES


# --------------------------------------------------------------------------------------------------------- statistics


def compute_statistics(rows: Sequence[dict]) -> dict:
    """Table 1 (events / seconds per scene and split), event types, top-20 elements, quadruples per video."""
    table1 = {scene: {split: [0, 0.0] for split in SPLITS} for scene in SCENES}
    types = {event_type: Counter() for event_type in EVENT_TYPES}
    subjects, objects, per_video = Counter(), Counter(), {split: Counter() for split in SPLITS}
    elements = Counter()
    for row in rows:
        per_video[row["split"]][len(row["events"])] += 1
        for event in row["events"]:
            cell = table1[event["scene"]][row["split"]]
            cell[0] += 1
            cell[1] += event["end"] - event["start"]
            types[event["event_type"]][row["split"]] += 1
            subjects[event["subject"]] += 1
            objects[event["object"]] += 1
            for name in ("subject", "event_type", "object", "scene"):
                elements[event[name]] += 1
    top = lambda counter: sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:20]  # noqa: E731
    return {
        "videos": {split: sum(1 for row in rows if row["split"] == split) for split in SPLITS},
        "events": {split: sum(len(row["events"]) for row in rows if row["split"] == split) for split in SPLITS},
        "table1": table1,
        "event_types": types,
        "top_subjects": top(subjects),
        "top_objects": top(objects),
        "top_elements": top(elements),
        "events_per_video": per_video,
    }


def table1_markdown(stats: dict) -> str:
    """The paper's Table 1 layout: per scene, events and total event seconds in train / test / all."""
    header = ["Scene", "Train events", "Train seconds", "Test events", "Test seconds", "All events", "All seconds"]
    lines, totals = [], [0, 0.0, 0, 0.0]
    for scene in SCENES:
        train, test = stats["table1"][scene]["train"], stats["table1"][scene]["test"]
        totals = [totals[0] + train[0], totals[1] + train[1], totals[2] + test[0], totals[3] + test[1]]
        lines.append(
            [
                scene,
                train[0],
                f"{train[1]:.0f}",
                test[0],
                f"{test[1]:.0f}",
                train[0] + test[0],
                f"{train[1] + test[1]:.0f}",
            ]
        )
    lines.append(
        [
            "**All**",
            totals[0],
            f"{totals[1]:.0f}",
            totals[2],
            f"{totals[3]:.0f}",
            totals[0] + totals[2],
            f"{totals[1] + totals[3]:.0f}",
        ]
    )
    return markdown_table(header, lines)


def event_types_markdown(stats: dict) -> str:
    lines = []
    for number, event_type in enumerate(EVENT_TYPES, start=1):
        counts = stats["event_types"][event_type]
        lines.append(
            [event_type, f"{number} {CUVA_CLASS_NAMES[number]}", counts["train"], counts["test"], counts.total()]
        )
    return markdown_table(["Event type", "CUVA class", "Train", "Test", "All"], lines)


def top_elements_markdown(stats: dict) -> str:
    rows = []
    for rank in range(20):
        cells = [rank + 1]
        for key in ("top_elements", "top_subjects", "top_objects"):
            items = stats[key]
            cells += [f"{items[rank][0]} ({items[rank][1]})" if rank < len(items) else ""]
        rows.append(cells)
    return markdown_table(["#", "Any element", "Subject", "Object"], rows)


def events_per_video_markdown(stats: dict) -> str:
    counts = sorted({n for split in SPLITS for n in stats["events_per_video"][split]})
    lines = []
    for n in counts:
        train, test = stats["events_per_video"]["train"][n], stats["events_per_video"]["test"][n]
        lines.append([n, train, test, train + test])
    videos = sum(stats["videos"].values())
    events = sum(stats["events"].values())
    lines.append(
        ["mean", *(format_ratio(stats["events"][s], stats["videos"][s]) for s in SPLITS), format_ratio(events, videos)]
    )
    return markdown_table(["Quadruples per video", "Train videos", "Test videos", "All videos"], lines)


def format_ratio(numerator: float, denominator: float) -> str:
    """numerator / denominator with two decimals, "-" for a zero denominator."""
    return f"{numerator / denominator:.2f}" if denominator else "-"


def rejects_markdown(rejects: Sequence[dict]) -> str:
    counts = Counter((reject["level"], reject["reason"]) for reject in rejects)
    lines = [
        [level, f"`{reason}`", count, REJECT_REASONS.get(reason, "")]
        for (level, reason), count in sorted(counts.items())
    ]
    return markdown_table(["Level", "Reason", "Count", "Meaning"], lines) if lines else "No reject."


# ------------------------------------------------------------------------------------------------------------ round 2


def _union_length(intervals: Sequence[tuple[float, float]]) -> float:
    total, current = 0.0, None
    for start, end in sorted(intervals):
        if current is None or start > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = [start, end]
        else:
            current[1] = max(current[1], end)
    if current is not None:
        total += current[1] - current[0]
    return total


def temporal_iou(first: Sequence[tuple[float, float]], second: Sequence[tuple[float, float]]) -> float:
    """IoU of the unions of two sets of intervals (seconds)."""
    union = _union_length([*first, *second])
    if union <= 0:
        return 0.0
    inter = _union_length(first) + _union_length(second) - union
    return max(0.0, inter) / union


def round2_agreement(round1: Sequence[CuvaRow], round2: Sequence[CuvaRow], categories=None) -> dict:
    """Agreement of the round-2 sheet with round 1 on the same video ids (first occurrence of each id per sheet)."""
    firsts = {}
    for row in round1:
        firsts.setdefault(str(row.video_id), row)
    stats = Counter()
    ious = []
    seen = set()
    for row in round2:
        key = str(row.video_id)
        if key in seen:
            stats["duplicates"] += 1
            continue
        seen.add(key)
        if key not in firsts:
            stats["unmatched"] += 1
            continue
        stats["matched"] += 1
        other = firsts[key]
        try:
            codes1, codes2 = (
                parse_type_codes(other.type_codes, categories),
                parse_type_codes(row.type_codes, categories),
            )
        except RowProblem:
            codes1 = codes2 = None
        if codes1 and codes2:
            top1 = max(codes1, key=lambda c: c[1])[0]
            top2 = max(codes2, key=lambda c: c[1])[0]
            stats["types_compared"] += 1
            stats["class_agree"] += top1.split("-")[0] == top2.split("-")[0]
            stats["subclass_agree"] += top1 == top2
        try:
            spans1 = [(s.start, s.end) for s in parse_moments(other.moment) if s.problem is None]
            spans2 = [(s.start, s.end) for s in parse_moments(row.moment) if s.problem is None]
        except RowProblem:
            spans1 = spans2 = []
        if spans1 and spans2:
            iou = temporal_iou(spans1, spans2)
            ious.append(iou)
            stats["moments_compared"] += 1
            stats["moments_identical"] += (other.moment or "").replace(" ", "") == (row.moment or "").replace(" ", "")
            stats["iou_at_least_0.5"] += iou >= 0.5
    result = dict(stats)
    result["round2_rows"] = len(round2)
    result["mean_temporal_iou"] = sum(ious) / len(ious) if ious else None
    return result


def agreement_markdown(agreement: dict) -> str:
    compared = agreement.get("types_compared", 0)
    moments = agreement.get("moments_compared", 0)
    iou = agreement.get("mean_temporal_iou")
    lines = [
        ["ids in both sheets", agreement.get("matched", 0)],
        ["round-2 ids not in round 1 / repeated in round 2", f"{agreement.get('unmatched', 0)} / {agreement.get('duplicates', 0)}"],
        ["both types are codes", compared],
        ["same class (event type)", f"{agreement.get('class_agree', 0)} ({_percent(agreement.get('class_agree', 0), compared)})"],
        ["same sub-class", f"{agreement.get('subclass_agree', 0)} ({_percent(agreement.get('subclass_agree', 0), compared)})"],
        ["both moments parse", moments],
        ["identical moments", f"{agreement.get('moments_identical', 0)} ({_percent(agreement.get('moments_identical', 0), moments)})"],
        ["mean temporal IoU (union of segments)", "-" if iou is None else f"{iou:.3f}"],
        ["temporal IoU >= 0.5", f"{agreement.get('iou_at_least_0.5', 0)} ({_percent(agreement.get('iou_at_least_0.5', 0), moments)})"],
    ]  # fmt: skip
    return markdown_table(["Measure", "Value"], lines)


def label_quality_markdown(quality: dict) -> str:
    """The agreement of a build's subject / object / scene (and type) with the hand-labelled sets
    (`mvae_devset.label_quality`): one column per set, or why a set was not measured."""
    names = list(quality)
    header = ["Slot", *(f"{name} set ({quality[name]['events']} events)" for name in names)]
    lines = []
    for slot in SLOTS:
        cells = []
        for name in names:
            measured = quality[name]
            if measured["agreement"] is None:
                cells.append(
                    f"not measured: {measured['matched']} of {measured['events']} labelled events in this build"
                )
            else:
                agreeing = round(measured["agreement"][slot] * measured["events"])
                cells.append(f"{agreeing} ({_percent(agreeing, measured['events'])})")
        lines.append([slot.replace("_", " "), *cells])
    return markdown_table(header, lines)


def _percent(numerator: float, denominator: float) -> str:
    return f"{100.0 * numerator / denominator:.1f} %" if denominator else "-"


__all__ = [
    "agreement_markdown",
    "compute_statistics",
    "event_types_markdown",
    "events_per_video_markdown",
    "format_ratio",
    "label_quality_markdown",
    "rejects_markdown",
    "round2_agreement",
    "table1_markdown",
    "temporal_iou",
    "top_elements_markdown",
]
