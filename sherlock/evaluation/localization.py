"""Temporal localisation of abnormal events (Sherlock, arXiv 2502.18863, §4.3, Table 2): mAP at temporal IoU
thresholds, ActivityNet-style detection average precision.

Exact definitions (shared by every function of this module):

- tIoU: for spans `a = [s1, e1]` and `b = [s2, e2]` (seconds), `inter = max(0, min(e1, e2) - max(s1, s2))`,
  `union = (e1 - s1) + (e2 - s2) - inter`, `tIoU = inter / union`, and 0.0 when `union == 0`. A zero-length span
  (`start == end`, e.g. the `[00:00, 00:00]` many Video-LLMs answer) localises nothing, so it has tIoU 0.0 with
  every span: with a zero-length span inside a gold span, and with another zero-length span at the same instant.
  With a threshold > 0 it never matches and is always a false positive.
- Events without both times (`EvalEvent.has_span` false) take no part in localisation: gold ones are ignored (they
  are not misses); predicted ones (e.g. an answer line with a quadruple but no valid time span, which
  `SherlockPredictor` keeps for the extraction F1) are dropped (not false positives) and counted in
  `"predictions_without_times"`.
  A NaN time, an `end` before `start` or a NaN score raises a `ValueError` naming the event.
- Videos: the videos are the keys of `gold`; a gold video with no event (or none with times) only receives false
  positives; a video missing from `predicted` has no prediction; a predicted video absent from `gold` raises.
- Ranking: the predictions of one class, over all videos, sorted by score descending, stable for ties (video order
  of `predicted` as given, then the order within the video). A prediction without a score ranks after every scored
  one (still in input order).
- Matching at a threshold `t`: in ranking order, each prediction is matched, within its own video, to the gold
  segment of its class with the highest tIoU among those still unmatched at `t` (a tie: the earlier gold event) if
  that tIoU >= t: a true positive; otherwise it is a false positive. Each gold segment is matched at most once, so a
  second prediction of an already matched segment is a false positive.
- AP: precision and recall after each ranked prediction (`recall = TP / n_gold`), precision made monotonically
  non-increasing from the right and summed over the recall steps (all-point interpolation, as ActivityNet's
  `interpolated_prec_rec`). No prediction gives AP 0.0.
- Classes: the event types of the gold events with times. `map@t` is the mean AP over these types (a gold type with
  no prediction has AP 0.0); predictions of a type absent from gold are ignored (counted in
  `"predictions_of_unknown_type"`), predictions without a type take no part in the per-type mAP (counted in
  `"predictions_without_type"`). If no gold event with times has a type, the per-type mAP is NaN.
- Class-agnostic: one class of all gold segments and all predictions with times, types ignored (a typed prediction
  can match a gold segment of another type), reported under `"class_agnostic"`; this is the only mAP for systems
  that give times without types.
"""

import math
from collections.abc import Sequence

import numpy as np

from .events import EventsByVideo, as_event


DEFAULT_THRESHOLDS = (0.1, 0.2, 0.3)


def temporal_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """The tIoU of spans `a = (start, end)` and `b`: `intersection / union`, 0.0 when `union == 0` (two
    zero-length spans; see the module docstring: a zero-length span has tIoU 0.0 with everything).

    Raises:
        `ValueError` for a span that is not two finite numbers with `end >= start`.
    """
    s1, e1 = _check_span(a)
    s2, e2 = _check_span(b)
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    union = (e1 - s1) + (e2 - s2) - inter
    return inter / union if union > 0 else 0.0


def _check_span(span) -> tuple[float, float]:
    if len(span) != 2:
        raise ValueError(f"A span is (start, end), got {len(span)} values: {span!r}.")
    start, end = (float(value) for value in span)
    if not (math.isfinite(start) and math.isfinite(end)) or end < start:
        raise ValueError(f"A span needs finite times with end >= start, got start={start}, end={end}.")
    return start, end


def interpolated_average_precision(is_true_positive: Sequence[bool], n_gold: int) -> float:
    """The all-point interpolated AP of ranked predictions, `is_true_positive[k]` telling whether the k-th ranked
    prediction matched a gold segment, against `n_gold` gold segments (ActivityNet's `interpolated_prec_rec`).

    Raises:
        `ValueError` when `n_gold < 1` or when there are more true positives than `n_gold`.
    """
    if isinstance(n_gold, bool) or int(n_gold) != n_gold or n_gold < 1:
        raise ValueError(f"`n_gold` must be an integer >= 1, got {n_gold!r}.")
    hits = np.asarray(is_true_positive, dtype=bool).reshape(-1)
    if hits.sum() > n_gold:
        raise ValueError(f"{int(hits.sum())} true positives for only {n_gold} gold segments.")
    if hits.size == 0:
        return 0.0
    tp = np.cumsum(hits, dtype=np.float64)
    precision = tp / np.arange(1, hits.size + 1)
    recall = tp / n_gold
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mprec[steps]))


def _check_thresholds(thresholds) -> tuple[float, ...]:
    values = tuple(thresholds)
    if not values:
        raise ValueError("`thresholds` is empty.")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"Each threshold must be a number in (0, 1], got {value!r}.")
    if len(set(values)) != len(values):
        raise ValueError(f"`thresholds` has duplicates: {values}.")
    return tuple(float(value) for value in values)


def _prepare(gold: EventsByVideo, predicted: EventsByVideo):
    """`(gold_spans, predictions, n_without_times)`: `gold_spans[video] = [(start, end, type)]`, `predictions` the
    list `(video, start, end, type, score)` in input order (video order of `predicted`), events without times
    dropped."""
    unknown = [video_id for video_id in predicted if video_id not in gold]
    if unknown:
        raise ValueError(
            f"{len(unknown)} predicted videos are not in `gold` ({len(gold)} videos), e.g. {unknown[0]!r}."
        )
    gold_spans = {}
    for video_id, events in gold.items():
        gold_spans[video_id] = [
            (*span, event.event_type) for event, span in _spans(video_id, events, "Gold") if span is not None
        ]
    predictions, without_times = [], 0
    for video_id, events in predicted.items():
        for event, span in _spans(video_id, events, "Predicted"):
            if span is None:
                without_times += 1
            else:
                predictions.append((video_id, *span, event.event_type, event.score))
    return gold_spans, predictions, without_times


def _spans(video_id, events, which):
    for index, item in enumerate(events):
        event = as_event(item)
        if event.score is not None and math.isnan(event.score):
            raise ValueError(f"{which} event {index} of video {video_id!r} has a NaN score.")
        if not event.has_span:
            yield event, None
            continue
        start, end = float(event.start), float(event.end)
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise ValueError(f"{which} event {index} of video {video_id!r} has a bad span: start={start}, end={end}.")
        yield event, (start, end)


def _rank(predictions: list) -> list:
    """Score descending, stable; predictions without a score last."""
    return sorted(predictions, key=lambda p: (p[4] is None, -p[4] if p[4] is not None else 0.0))


def _match(gold_spans: dict, ranked: list, threshold: float) -> list[bool]:
    """Greedy matching (module docstring) of ranked `(video, start, end, ...)` to `gold_spans[video] = [(s, e)]`."""
    used = {video_id: [False] * len(spans) for video_id, spans in gold_spans.items()}
    hits = []
    for video_id, start, end, *_ in ranked:
        best, best_iou = -1, -1.0
        for index, (g_start, g_end) in enumerate(gold_spans.get(video_id, ())):
            if not used[video_id][index]:
                iou = temporal_iou((start, end), (g_start, g_end))
                if iou > best_iou:
                    best, best_iou = index, iou
        hit = best >= 0 and best_iou >= threshold
        if hit:
            used[video_id][best] = True
        hits.append(hit)
    return hits


def _class_ap(gold_spans: dict, predictions: list, threshold: float, event_type, agnostic: bool) -> float:
    if agnostic:
        spans = {video_id: [(s, e) for s, e, _ in events] for video_id, events in gold_spans.items()}
        chosen = predictions
    else:
        spans = {
            video_id: [(s, e) for s, e, t in events if t == event_type] for video_id, events in gold_spans.items()
        }
        chosen = [p for p in predictions if p[3] == event_type]
    n_gold = sum(len(value) for value in spans.values())
    if n_gold == 0:
        raise ValueError(f"No gold event with a time span of type {event_type!r} to compute an AP for.")
    return interpolated_average_precision(_match(spans, _rank(chosen), threshold), n_gold)


def average_precision(
    gold: EventsByVideo, predicted: EventsByVideo, threshold: float, event_type: str | None = None
) -> float:
    """The AP at tIoU `threshold` of one class (module docstring): the gold and predicted events of type
    `event_type`, or, when `event_type` is None, all events with times, types ignored (the class-agnostic AP).

    Raises:
        `ValueError` when no gold event with times has that type, for a threshold outside (0, 1], for a predicted
        video absent from `gold`, and for bad spans or scores.
    """
    (threshold,) = _check_thresholds((threshold,))
    gold_spans, predictions, _ = _prepare(gold, predicted)
    return _class_ap(gold_spans, predictions, threshold, event_type, agnostic=event_type is None)


def _key(threshold: float) -> str:
    return f"map@{threshold:g}"


def map_at_tiou(
    gold: EventsByVideo, predicted: EventsByVideo, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> dict:
    """mAP at each tIoU threshold (Table 2 reports 0.1, 0.2, 0.3), definitions in the module docstring.

    Returns:
        `{"map@0.1": ..., "map@0.2": ..., "map@0.3": ..., "map_mean": mean over the thresholds,
        "per_type": {type: {threshold: ap}} (types sorted), "class_agnostic": {"map@0.1": ..., "map_mean": ...},
        "predictions_without_times": n, "predictions_without_type": n, "predictions_of_unknown_type": n}`
        (keys `f"map@{t:g}"`; the last two counts are over predictions with times).

    Raises:
        `ValueError("no gold event with a time span ...")` when no gold event has both times (mAP undefined), for
        empty or duplicate thresholds or one outside (0, 1], for a predicted video absent from `gold`, and for bad
        spans or scores.
    """
    thresholds = _check_thresholds(thresholds)
    gold_spans, predictions, without_times = _prepare(gold, predicted)
    if not any(gold_spans.values()):
        raise ValueError(f"There is no gold event with a time span ({len(gold)} gold videos): the mAP is undefined.")
    types = sorted({t for events in gold_spans.values() for _, _, t in events if t is not None})
    per_type = {
        event_type: {t: _class_ap(gold_spans, predictions, t, event_type, agnostic=False) for t in thresholds}
        for event_type in types
    }
    agnostic = {_key(t): _class_ap(gold_spans, predictions, t, None, agnostic=True) for t in thresholds}
    agnostic["map_mean"] = float(np.mean([agnostic[_key(t)] for t in thresholds]))
    result = {_key(t): float(np.mean([per_type[e][t] for e in types])) if types else math.nan for t in thresholds}
    result["map_mean"] = float(np.mean([result[_key(t)] for t in thresholds]))
    result["per_type"] = per_type
    result["class_agnostic"] = agnostic
    result["predictions_without_times"] = without_times
    result["predictions_without_type"] = sum(1 for p in predictions if p[3] is None)
    result["predictions_of_unknown_type"] = sum(1 for p in predictions if p[3] is not None and p[3] not in types)
    return result


def per_video_localization(gold: EventsByVideo, predicted: EventsByVideo, threshold: float = 0.3) -> dict[str, float]:
    """`{video_id: F1}` for every video of `gold`, the paired samples of the t-test of
    `sherlock.evaluation.significance.paired_t_test` (§4.3).

    In each video, the predictions with times are matched to its gold segments with times as in the module
    docstring, types ignored (class-agnostic, so that systems without types are scored too), at `threshold`:
    `TP` matched predictions, `FP = n_predicted - TP`, `FN = n_gold - TP`, `F1 = 2·TP / (2·TP + FP + FN)`. A video
    with neither gold segment nor prediction scores 1.0 (nothing to find, nothing claimed); one with only
    predictions or only gold segments scores 0.0. The keys depend on `gold` only.

    Raises:
        `ValueError` for a threshold outside (0, 1], for a predicted video absent from `gold`, and for bad spans or
        scores.
    """
    (threshold,) = _check_thresholds((threshold,))
    gold_spans, predictions, _ = _prepare(gold, predicted)
    scores = {}
    for video_id, events in gold_spans.items():
        mine = [p for p in predictions if p[0] == video_id]
        tp = sum(_match({video_id: [(s, e) for s, e, _ in events]}, _rank(mine), threshold))
        denominator = len(events) + len(mine)
        scores[video_id] = 2 * tp / denominator if denominator else 1.0
    return scores


__all__ = [
    "DEFAULT_THRESHOLDS",
    "average_precision",
    "interpolated_average_precision",
    "map_at_tiou",
    "per_video_localization",
    "temporal_iou",
]
