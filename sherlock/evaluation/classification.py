"""Frame-level anomaly classification of the paper (Sherlock, arXiv 2502.18863, §4.3, Tables 3 and 4): FNRs and F2.

Each video is sampled at `fps` frames per second (8.0, the paper's, by default) and every frame is labelled abnormal
or normal twice: by the gold events and by the predicted events. The scores compare the two labellings.

Exact definitions (shared by every function of this module):

- Frames: a video of `duration` seconds has `n = ceil(duration * fps)` frames (computed as
  `ceil(duration * fps - 1e-9)` so that float noise such as `3 * 0.1 * 10` does not add a frame); frame `k` (for
  `k in range(n)`) is the instant `t_k = k / fps`. A duration of 0 gives no frame.
- Labels: a frame is positive for a set of events when `t_k` lies in the closed interval `[start, end]` of at least
  one of them (the union of the segments; overlapping segments count their frames once), compared with a tolerance
  of 1e-9 s. A zero-length span (`start == end`) covers the frame at exactly that instant, if there is one, and no
  frame otherwise. Spans reaching before 0 or past the duration are clipped: only the `n` frames exist.
- Events without both times (`EvalEvent.has_span` false) are ignored, gold and predicted alike (their scene too).
- Videos: the videos scored are the keys of `gold`; a video with no gold event (an empty list) has only negative
  frames, so it can only add false positives. A video missing from `predicted` has no predicted positive frame.
  A predicted video absent from `gold`, or a scored video absent from `durations`, raises a `ValueError` naming it.
- Counts over frames: TP (gold and predicted positive), FN (gold positive, predicted negative), FP (gold negative,
  predicted positive). `FNR = FN / (TP + FN)` (the paper's "FNRs"), `precision = TP / (TP + FP)`,
  `recall = TP / (TP + FN) = 1 - FNR`, `F2 = (1 + β²)·P·R / (β²·P + R)` with β = 2, computed as
  `5·TP / (5·TP + 4·FN + FP)`. Undefined ratios (a zero denominator) are 0.0: with no positive frame at all the FNR
  is 0.0 (nothing was missed) and the recall 0.0; with no predicted positive frame the precision is 0.0; when
  `TP + FN + FP == 0` the F2 is 0.0 (scikit-learn's `zero_division=0` convention, so the scores agree with
  `sklearn.metrics.fbeta_score(..., beta=2, zero_division=0)`).
- Overall scores pool the frame counts of all videos (micro average), then take the ratios.
- Per scene (Table 3): a positive gold frame belongs to the scene of every gold event covering it (a frame covered by
  events of two scenes counts in both; a covering event without a scene gives it no scene). A negative gold frame
  belongs to every scene of its video's gold events (the scenes of the gold events with a span); the negative frames
  of a video with no scened gold event belong to no scene, so they count only overall. Each scene pools the counts
  of its frames over all videos; a scene is reported when at least one gold event with a span has it, in the order
  of `processing.vocabulary_sherlock.SCENES`, then any other scene name alphabetically.
"""

import math
from collections.abc import Mapping

import numpy as np

from .events import EventsByVideo, as_event


BETA = 2.0
_EPS = 1e-9


def _check_fps(fps) -> float:
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"`fps` must be a positive finite number, got {fps!r}.")
    return float(fps)


def _frame_times(video_id: str, durations: Mapping[str, float], fps: float) -> np.ndarray:
    if video_id not in durations:
        raise ValueError(f"No duration for video {video_id!r} ({len(durations)} durations given).")
    duration = durations[video_id]
    if (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float, np.integer, np.floating))
        or not math.isfinite(duration)
        or duration < 0
    ):
        raise ValueError(f"The duration of video {video_id!r} must be a finite number >= 0, got {duration!r}.")
    n = max(0, math.ceil(float(duration) * fps - _EPS))
    return np.arange(n, dtype=np.float64) / fps


def _spans(video_id: str, events, which: str) -> list[tuple[float, float, str | None]]:
    """`(start, end, scene)` of the events with both times; a NaN time or `end < start` raises."""
    spans = []
    for index, item in enumerate(events):
        event = as_event(item)
        if not event.has_span:
            continue
        start, end = float(event.start), float(event.end)
        if math.isnan(start) or math.isnan(end) or end < start:
            raise ValueError(f"{which} event {index} of video {video_id!r} has a bad span: start={start}, end={end}.")
        spans.append((start, end, event.scene))
    return spans


def _cover(times: np.ndarray, spans) -> np.ndarray:
    mask = np.zeros(times.shape, dtype=bool)
    for start, end, _ in spans:
        mask |= (times >= start - _EPS) & (times <= end + _EPS)
    return mask


def _scene_order(scene: str) -> tuple:
    from processing.vocabulary_sherlock import SCENES

    return (0, SCENES.index(scene), "") if scene in SCENES else (1, 0, scene)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _scores(tp: int, fn: int, fp: int) -> dict:
    b2 = BETA * BETA
    return {
        "fnr": _ratio(fn, tp + fn),
        "f2": _ratio((1 + b2) * tp, (1 + b2) * tp + b2 * fn + fp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def _video_labels(gold: EventsByVideo, predicted: EventsByVideo, durations: Mapping[str, float], fps: float):
    """Yield `(video_id, gold_mask, predicted_mask, {scene: frames of that scene})` for each video of `gold`."""
    fps = _check_fps(fps)
    extra = [video_id for video_id in predicted if video_id not in gold]
    if extra:
        raise ValueError(f"{len(extra)} predicted video(s) are not in gold, e.g. {extra[0]!r}.")
    for video_id, gold_events in gold.items():
        times = _frame_times(video_id, durations, fps)
        gold_spans = _spans(video_id, gold_events, "Gold")
        gold_mask = _cover(times, gold_spans)
        predicted_mask = _cover(times, _spans(video_id, predicted.get(video_id, ()), "Predicted"))
        scenes = {}
        for scene in dict.fromkeys(span[2] for span in gold_spans if span[2] is not None):
            scenes[scene] = _cover(times, [span for span in gold_spans if span[2] == scene]) | ~gold_mask
        yield video_id, gold_mask, predicted_mask, scenes


def _counts(gold_mask: np.ndarray, predicted_mask: np.ndarray) -> np.ndarray:
    return np.array(
        [
            np.count_nonzero(gold_mask & predicted_mask),
            np.count_nonzero(gold_mask & ~predicted_mask),
            np.count_nonzero(~gold_mask & predicted_mask),
        ],
        dtype=np.int64,
    )


def classification_scores(
    gold: EventsByVideo, predicted: EventsByVideo, durations: Mapping[str, float], fps: float = 8.0
) -> dict:
    """Frame-level FNR, F2, precision and recall, overall and per scene (§4.3, Table 3; definitions in the module
    docstring).

    Args:
        gold, predicted (`EventsByVideo`): `{video_id: [EvalEvent or dict, ...]}`; the videos scored are gold's.
        durations (`Mapping[str, float]`): the duration in seconds of every video of `gold`.
        fps (`float`): frames per second of the sampling (8.0, the paper's).

    Returns:
        `{"fnr", "f2", "precision", "recall", "positive_frames", "frames", "per_scene_fnr": {scene: fnr},
        "per_scene_f2": {scene: f2}}`; `positive_frames` is TP + FN (gold positive frames) and `frames` the number of
        frames of all scored videos.

    Raises:
        `ValueError` for a non-positive `fps`, a missing or bad duration, a predicted video not in `gold`, or a span
        with a NaN time or `end < start`.
    """
    total = np.zeros(3, dtype=np.int64)
    frames = 0
    per_scene: dict[str, np.ndarray] = {}
    for _, gold_mask, predicted_mask, scenes in _video_labels(gold, predicted, durations, fps):
        total += _counts(gold_mask, predicted_mask)
        frames += gold_mask.size
        for scene, in_scene in scenes.items():
            counts = _counts(gold_mask[in_scene], predicted_mask[in_scene])
            per_scene[scene] = per_scene.get(scene, np.zeros(3, dtype=np.int64)) + counts
    tp, fn, fp = (int(value) for value in total)
    result = _scores(tp, fn, fp)
    result["positive_frames"] = tp + fn
    result["frames"] = frames
    ordered = sorted(per_scene, key=_scene_order)
    scene_scores = {scene: _scores(*(int(value) for value in per_scene[scene])) for scene in ordered}
    result["per_scene_fnr"] = {scene: scores["fnr"] for scene, scores in scene_scores.items()}
    result["per_scene_f2"] = {scene: scores["f2"] for scene, scores in scene_scores.items()}
    return result


def per_second_scores(gold: EventsByVideo, predicted: EventsByVideo, durations: Mapping[str, float]) -> dict:
    """The per-second variant (Table 4): `classification_scores` with `fps=1`, i.e. the units are whole seconds and
    second `k` (for `k in range(ceil(duration))`) is positive when the instant `t = k` s lies in the closed union of
    the segments. A span strictly between two whole seconds (e.g. `[2.2, 2.8]`) therefore covers no second.

    Returns and raises as `classification_scores`.
    """
    return classification_scores(gold, predicted, durations, fps=1.0)


def per_video_classification(
    gold: EventsByVideo,
    predicted: EventsByVideo,
    durations: Mapping[str, float],
    fps: float = 8.0,
    metric: str = "f2",
) -> dict[str, float]:
    """`{video_id: score}`, the frame-level `metric` ("f2" or "fnr") of each video alone, the paired samples of the
    t-test of `sherlock.evaluation.significance.paired_t_test` (§4.3).

    Only the videos with at least one gold positive frame are returned: in the others the FNR is 0.0 and the F2 0.0
    whatever the prediction (definitions in the module docstring), so they would carry no information. The videos
    kept depend on `gold` and `durations` only, so two systems scored on the same gold give the same keys.

    Raises:
        `ValueError` for an unknown `metric`, and as `classification_scores`.
    """
    if metric not in ("f2", "fnr"):
        raise ValueError(f"`metric` must be 'f2' or 'fnr', got {metric!r}.")
    scores = {}
    for video_id, gold_mask, predicted_mask, _ in _video_labels(gold, predicted, durations, fps):
        tp, fn, fp = (int(value) for value in _counts(gold_mask, predicted_mask))
        if tp + fn:
            scores[video_id] = _scores(tp, fn, fp)[metric]
    return scores


__all__ = ["BETA", "classification_scores", "per_second_scores", "per_video_classification"]
