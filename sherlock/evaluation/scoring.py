"""One call that scores a system on an M-VAE split: the metrics of the paper's Tables 2-4 in one nested dict, the
per-video scores for significance tests, and a byte-stable JSON writer.

Inputs: `gold_rows`, the rows of the split (see `dataset_scripts/mvae_schema.py`: `video_id`, `events`, `duration`,
...), and `predictions`, `{video_id: [EvalEvent, ...]}` (e.g. from `sherlock.evaluation.predictions.read_predictions`).
The videos scored are the rows'; a predicted video that is not a row raises a `ValueError`.

Durations (frame-level classification needs one per video): the row's `duration` when it is given (a finite number
>= 0); otherwise the largest `end` among that video's gold and predicted events (0.0, i.e. no frame, when there is
none). Such videos are counted in `details.counts.durations_inferred`. They are not skipped, so that the three metric
families score the same videos; note that an inferred duration reaches at least the last predicted end, so a
prediction past the last gold event is counted as false positive frames rather than clipped away.

Reported metrics (`score`): fractions in [0, 1] as plain floats:

- `extraction.single.{subject,event_type,object,scene}`, `extraction.pair.{subject_type,object_type,subject_scene,
  object_scene}`, `extraction.quadruple`: the macro F1 (the paper's, `sherlock.evaluation.extraction`);
- `localization.{map@0.1,map@0.2,map@0.3,map_mean}`: per-event-type mAP at tIoU (`sherlock.evaluation.localization`);
- `classification.{fnr,f2}` and `classification.per_scene_fnr.<Scene>`: frame-level at `fps`
  (`sherlock.evaluation.classification`);
- `details`: micro precision / recall / F1 and support of every extraction target, the class-agnostic and per-type
  mAP and prediction counts, frame-level precision / recall / per-scene F2 / frame counts, the per-second scores
  (Table 4), and the counts of videos and events.
"""

import json
import logging
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path

from .classification import classification_scores, per_second_scores, per_video_classification
from .events import EvalEvent, as_event
from .extraction import EXTRACTION_GROUPS, extraction_scores, per_video_extraction
from .localization import map_at_tiou, per_video_localization


logger = logging.getLogger(__name__)

LOCALIZATION_KEYS = ("map@0.1", "map@0.2", "map@0.3", "map_mean")
FLOAT_DIGITS = 6


def gold_from_rows(gold_rows: Iterable[Mapping]) -> tuple[dict[str, list[EvalEvent]], dict[str, float | None]]:
    """`({video_id: [EvalEvent, ...]}, {video_id: duration or None})` from M-VAE rows, in row order.

    Raises:
        `ValueError` for a row without a string `video_id` or a list `events`, a duplicate video id, a bad event, a
        bad duration, or no row at all.
    """
    gold: dict[str, list[EvalEvent]] = {}
    durations: dict[str, float | None] = {}
    for index, row in enumerate(gold_rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"Gold row {index} is not a mapping ({type(row).__name__}).")
        video_id = row.get("video_id")
        if not isinstance(video_id, str) or not video_id:
            raise ValueError(f"Gold row {index} has no string `video_id` (got {video_id!r}).")
        if video_id in gold:
            raise ValueError(f"Gold row {index}: duplicate video id {video_id!r}.")
        events = row.get("events")
        if not isinstance(events, (list, tuple)):
            raise ValueError(
                f"Gold row {index} (video {video_id!r}) has no `events` list (got {type(events).__name__})."
            )
        try:
            gold[video_id] = [as_event(event) for event in events]
        except ValueError as error:
            raise ValueError(f"Gold row {index} (video {video_id!r}): bad event: {error}") from error
        duration = row.get("duration")
        if duration is not None:
            if isinstance(duration, bool) or not isinstance(duration, numbers.Real):
                raise ValueError(f"Gold row {index} (video {video_id!r}): `duration` is not a number: {duration!r}.")
            duration = float(duration)
            if math.isnan(duration):
                duration = None  # a NaN read from a float column: unknown
            elif not math.isfinite(duration) or duration < 0:
                raise ValueError(f"Gold row {index} (video {video_id!r}): bad `duration` {duration!r}.")
        durations[video_id] = duration
    if not gold:
        raise ValueError("There is no gold row to score.")
    return gold, durations


def _check_predictions(gold: Mapping, predictions: Mapping) -> dict[str, list[EvalEvent]]:
    if not isinstance(predictions, Mapping):
        raise ValueError(f"`predictions` must be a mapping {{video_id: [events]}}, got {type(predictions).__name__}.")
    unknown = [str(video_id) for video_id in predictions if video_id not in gold]
    if unknown:
        raise ValueError(f"{len(unknown)} predicted video(s) are not in the gold rows, e.g. {unknown[0]!r}.")
    return {video_id: [as_event(item) for item in events] for video_id, events in predictions.items()}


def resolve_durations(gold: Mapping, predictions: Mapping, durations: Mapping) -> tuple[dict[str, float], list[str]]:
    """`({video_id: duration}, inferred_ids)`: the given duration, else the largest gold or predicted `end` (module
    docstring), else 0.0."""
    resolved, inferred = {}, []
    for video_id, events in gold.items():
        duration = durations.get(video_id)
        if duration is None:
            ends = [e.end for e in (*events, *predictions.get(video_id, ())) if e.end is not None]
            duration = max(ends, default=0.0)
            inferred.append(video_id)
        resolved[video_id] = float(duration)
    return resolved, inferred


def _prepare(gold_rows, predictions):
    gold, given = gold_from_rows(gold_rows)
    predicted = _check_predictions(gold, predictions)
    durations, inferred = resolve_durations(gold, predicted, given)
    if inferred:
        logger.info("%d video(s) have no duration: inferred from the last event end", len(inferred))
    return gold, predicted, durations, inferred


def score(gold_rows: Iterable[Mapping], predictions: Mapping, fps: float = 8.0) -> dict:
    """Score `predictions` against the gold rows of a split (module docstring).

    Args:
        gold_rows (`Iterable[Mapping]`): the M-VAE rows (`video_id`, `events`, optional `duration`).
        predictions (`Mapping[str, Sequence]`): `{video_id: [EvalEvent or dict, ...]}`; missing videos predicted
            nothing.
        fps (`float`, *optional*, defaults to 8.0): the frame rate of the frame-level classification.

    Returns:
        `{"extraction": {"single": {...}, "pair": {...}, "quadruple": f1}, "localization": {"map@0.1", "map@0.2",
        "map@0.3", "map_mean"}, "classification": {"fnr", "f2", "per_scene_fnr": {scene: fnr}}, "details": {...}}`.

    Raises:
        `ValueError` for malformed rows or events, a predicted video absent from the rows, a bad `fps`, or gold
        without any event with times (the mAP is then undefined).
    """
    gold, predicted, durations, inferred = _prepare(gold_rows, predictions)
    extraction = extraction_scores(gold, predicted)
    localization = map_at_tiou(gold, predicted)
    classification = classification_scores(gold, predicted, durations, fps=fps)
    per_second = per_second_scores(gold, predicted, durations)
    metrics = {
        "extraction": {
            "single": {t: extraction["single"][t]["macro_f1"] for t in EXTRACTION_GROUPS["single"]},
            "pair": {t: extraction["pair"][t]["macro_f1"] for t in EXTRACTION_GROUPS["pair"]},
            "quadruple": extraction["quadruple"]["quadruple"]["macro_f1"],
        },
        "localization": {key: localization[key] for key in LOCALIZATION_KEYS},
        "classification": {
            "fnr": classification["fnr"],
            "f2": classification["f2"],
            "per_scene_fnr": dict(classification["per_scene_fnr"]),
        },
        "details": {
            "extraction": {target: dict(scores) for group in extraction.values() for target, scores in group.items()},
            "localization": {
                "class_agnostic": dict(localization["class_agnostic"]),
                "per_type": {
                    event_type: {f"map@{t:g}": ap for t, ap in aps.items()}
                    for event_type, aps in localization["per_type"].items()
                },
                "predictions_without_times": localization["predictions_without_times"],
                "predictions_without_type": localization["predictions_without_type"],
                "predictions_of_unknown_type": localization["predictions_of_unknown_type"],
            },
            "classification": {
                key: classification[key]
                for key in ("precision", "recall", "positive_frames", "frames", "per_scene_f2")
            },
            "per_second": {
                key: per_second[key]
                for key in (
                    "fnr",
                    "f2",
                    "precision",
                    "recall",
                    "positive_frames",
                    "frames",
                    "per_scene_fnr",
                    "per_scene_f2",
                )
            },
            "counts": {
                "videos": len(gold),
                "videos_with_prediction": sum(1 for video_id in gold if video_id in predicted),
                "gold_events": sum(len(events) for events in gold.values()),
                "predicted_events": sum(len(events) for events in predicted.values()),
                "durations_inferred": len(inferred),
            },
            "fps": float(fps),
        },
    }
    return _plain(metrics)


def per_video_scores(gold_rows: Iterable[Mapping], predictions: Mapping, fps: float = 8.0) -> dict[str, dict]:
    """`{video_id: {"quadruple_f1", "localization_f1@0.3", "f2"}}` for every gold row, the paired samples of
    `sherlock.evaluation.significance.paired_t_test`: the per-video quadruple micro F1
    (`per_video_extraction`), the class-agnostic localisation F1 at tIoU 0.3 (`per_video_localization`) and the
    frame-level F2 (`per_video_classification`), which is `None` for a video without a gold positive frame (its F2
    carries no information; durations as in `score`).

    Raises:
        `ValueError` as `score`.
    """
    gold, predicted, durations, _ = _prepare(gold_rows, predictions)
    quadruple = per_video_extraction(gold, predicted, target="quadruple")
    localization = per_video_localization(gold, predicted, threshold=0.3)
    f2 = per_video_classification(gold, predicted, durations, fps=fps, metric="f2")
    return _plain(
        {
            video_id: {
                "quadruple_f1": quadruple[video_id],
                "localization_f1@0.3": localization[video_id],
                "f2": f2.get(video_id),
            }
            for video_id in gold
        }
    )


def _plain(value):
    """Plain Python values (numpy scalars to float / int), recursively."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return float(value)


def _rounded(value):
    """Floats rounded to `FLOAT_DIGITS` (NaN and infinities become null), recursively."""
    if isinstance(value, Mapping):
        return {str(key): _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded  # no "-0.0"
    return value


def metrics_json(metrics: Mapping) -> str:
    """The JSON text `write_metrics` writes: sorted keys, two-space indent, floats rounded to `FLOAT_DIGITS`, NaN
    and infinities as null, a final newline."""
    return json.dumps(_rounded(_plain(metrics)), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_metrics(path: str | Path, metrics: Mapping) -> Path:
    """Write `metrics` (or any nested mapping of numbers, e.g. `per_video_scores`) as JSON to `path` (see
    `metrics_json`): scoring the same inputs twice gives byte-identical files. Returns the path."""
    path = Path(path)
    path.write_text(metrics_json(metrics), encoding="utf-8")
    return path


__all__ = [
    "FLOAT_DIGITS",
    "LOCALIZATION_KEYS",
    "gold_from_rows",
    "metrics_json",
    "per_video_scores",
    "resolve_durations",
    "score",
    "write_metrics",
]
