"""Extraction F1 of the paper (Sherlock, arXiv 2502.18863, §4.3, Table 2): how well the quadruples
`(subject, event_type, object, scene)` of the abnormal events are extracted, element by element, in pairs and whole.

Exact definitions (shared by every function of this module):

- Targets (`EXTRACTION_TARGETS`, name -> the `EvalEvent` fields whose tuple is compared): the single elements
  `subject`, `event_type`, `object`, `scene`; the pairs `subject_type` (subject, event_type), `object_type`
  (object, event_type), `subject_scene` (subject, scene), `object_scene` (object, scene); and `quadruple` (all
  four). `EXTRACTION_GROUPS` sorts them into the three column groups of Table 2: `single`, `pair`, `quadruple`.
- Times are ignored: extraction is scored on the quadruple only. Events without times count like any other, and two
  events with the same value but different spans are the same value. The `score` field is ignored too.
- Values: the value of an event for a target is the tuple of its fields (a 1-tuple for a single element). A value
  with a `None` field is *incomplete*: an incomplete prediction is a prediction that can match nothing (a false
  positive), and an incomplete gold value is a gold event that nothing can match (a false negative). Gold events
  always count. Values are compared exactly (the canonical names of `processing.vocabulary_sherlock`; a name outside
  the vocabularies is just another value, it is neither dropped nor normalised here).
- Videos: the videos scored are the keys of `gold`; a video with no gold event can only add false positives. A video
  missing from `predicted` has no predictions. A predicted video id absent from `gold` raises a `ValueError` naming
  it.
- Matching: within one video, the complete gold values and the complete predicted values of a target are compared
  as multisets: `TP = |gold ∩ predicted|` (`collections.Counter` intersection, i.e. for each value `v`,
  `min(#gold with v, #predicted with v)`), so a gold value given twice needs two predictions of it, and a value
  predicted twice for one gold event counts one true positive and one false positive. The order of the events does
  not matter (there are no ties to break: only counts are compared).
- Micro scores (the counts of all videos summed): with `TP`, `#pred` (all predicted events, incomplete included) and
  `#gold` (all gold events, incomplete included), `precision = TP / #pred`, `recall = TP / #gold`,
  `F1 = 2·P·R / (P + R)` (computed as `2·TP / (#pred + #gold)`, the same number). Zero denominators: with no
  prediction and no gold event at all, P = R = F1 = 1.0 (nothing to find and nothing claimed: perfect, so that an
  empty video does not drag a per-video average down); `#pred == 0 < #gold` gives P = 0.0; `#gold == 0 < #pred`
  gives R = 0.0; `P + R == 0` gives F1 = 0.0.
- Macro F1 (the average the paper reports for Table 2, which does not spell out its classes): the classes are the
  distinct complete values of the target present in gold ∪ predicted (over all scored videos). For a class `c`,
  `TP_c = Σ_videos min(#gold with c, #predicted with c)`, `FP_c = #predicted with c - TP_c`,
  `FN_c = #gold with c - TP_c`, `F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c)` (never 0/0: a class is present somewhere),
  and `macro_f1` is the unweighted mean of the `F1_c`. Why these classes: this is exactly scikit-learn's
  `f1_score(y_true, y_pred, average="macro")` (default `labels`: those present in `y_true ∪ y_pred`) on the
  alignment the multiset matching defines (matched pairs `(c, c)`, unmatched gold `(c, MISSING)`, unmatched
  predictions `(MISSING, c)`, with `MISSING` left out of `labels`); a predicted class that is never gold (a
  hallucinated or unknown label) therefore costs a class with F1 0, while a vocabulary class absent from both sides
  is not averaged in (its F1 would be undefined, and the score would then depend on the vocabulary, not on the
  data). For pairs and the quadruple the classes are the tuples. Incomplete values belong to no class: they lower
  the micro scores only. With no class at all, `macro_f1` equals the micro F1 (1.0 when there is neither a
  prediction nor a gold event, else 0.0).
- Support: the number of gold events scored (incomplete ones included), an `int`.
"""

from collections import Counter
from collections.abc import Mapping

from .events import EventsByVideo, as_event


EXTRACTION_TARGETS: dict[str, tuple[str, ...]] = {
    "subject": ("subject",),
    "event_type": ("event_type",),
    "object": ("object",),
    "scene": ("scene",),
    "subject_type": ("subject", "event_type"),
    "object_type": ("object", "event_type"),
    "subject_scene": ("subject", "scene"),
    "object_scene": ("object", "scene"),
    "quadruple": ("subject", "event_type", "object", "scene"),
}

EXTRACTION_GROUPS: dict[str, tuple[str, ...]] = {
    "single": ("subject", "event_type", "object", "scene"),
    "pair": ("subject_type", "object_type", "subject_scene", "object_scene"),
    "quadruple": ("quadruple",),
}


def _check_target(target) -> tuple[str, ...]:
    if not isinstance(target, str) or target not in EXTRACTION_TARGETS:
        raise ValueError(
            f"Unknown extraction target {target!r}; the {len(EXTRACTION_TARGETS)} targets are "
            f"{', '.join(EXTRACTION_TARGETS)}."
        )
    return EXTRACTION_TARGETS[target]


def _check_videos(gold: EventsByVideo, predicted: EventsByVideo) -> None:
    if not isinstance(gold, Mapping):
        raise ValueError(f"`gold` must be a mapping {{video_id: [events]}}, got {type(gold).__name__}.")
    if not isinstance(predicted, Mapping):
        raise ValueError(f"`predicted` must be a mapping {{video_id: [events]}}, got {type(predicted).__name__}.")
    unknown = sorted(str(video_id) for video_id in predicted if video_id not in gold)
    if unknown:
        raise ValueError(
            f"{len(unknown)} predicted video(s) are not in `gold` ({len(gold)} videos): {', '.join(map(repr, unknown))}."
        )


def _values(events, fields: tuple[str, ...]) -> tuple[Counter, int]:
    """The multiset of the complete values of `events` for `fields`, and the number of events (incomplete ones too)."""
    complete = Counter()
    count = 0
    for item in events:
        event = as_event(item)
        count += 1
        value = tuple(getattr(event, name) for name in fields)
        if None not in value:
            complete[value] += 1
    return complete, count


def _video_counts(
    gold_events, predicted_events, fields: tuple[str, ...]
) -> tuple[Counter, Counter, Counter, int, int]:
    """`(gold multiset, predicted multiset, matched multiset, #gold, #pred)` of one video."""
    gold_values, n_gold = _values(gold_events, fields)
    predicted_values, n_pred = _values(predicted_events, fields)
    return gold_values, predicted_values, gold_values & predicted_values, n_gold, n_pred


def _micro(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """`(precision, recall, F1)` with the module's zero-denominator conventions."""
    if n_pred == 0 and n_gold == 0:
        return 1.0, 1.0, 1.0
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2.0 * tp / (n_pred + n_gold)
    return float(precision), float(recall), float(f1)


def extraction_score(gold: EventsByVideo, predicted: EventsByVideo, target: str = "quadruple") -> dict:
    """The extraction scores of one target (see the module docstring for the exact definitions).

    Args:
        gold (`EventsByVideo`): `{video_id: [EvalEvent or dict, ...]}`, the gold events; its keys are the videos
            scored.
        predicted (`EventsByVideo`): the predicted events; a video missing here has no predictions.
        target (`str`, *optional*, defaults to `"quadruple"`): a key of `EXTRACTION_TARGETS`.

    Returns:
        `{"macro_f1", "micro_f1", "precision", "recall", "support"}`: the first four plain floats in [0, 1] (micro
        precision and recall), `support` the number of gold events (`int`).

    Raises:
        `ValueError` for an unknown target, a predicted video id absent from `gold` (naming it), non-mapping inputs,
        or a malformed event (see `sherlock.evaluation.as_event`).
    """
    fields = _check_target(target)
    _check_videos(gold, predicted)
    gold_total, predicted_total, matched_total = Counter(), Counter(), Counter()
    n_gold = n_pred = 0
    for video_id, gold_events in gold.items():
        g, p, m, video_gold, video_pred = _video_counts(gold_events, predicted.get(video_id, ()), fields)
        gold_total.update(g)
        predicted_total.update(p)
        matched_total.update(m)
        n_gold += video_gold
        n_pred += video_pred
    tp = sum(matched_total.values())
    precision, recall, micro_f1 = _micro(tp, n_pred, n_gold)
    classes = set(gold_total) | set(predicted_total)
    if classes:
        per_class = [
            2.0 * matched_total[c] / (gold_total[c] + predicted_total[c])  # = 2TP / (2TP + FP + FN)
            for c in classes
        ]
        macro_f1 = float(sum(per_class) / len(per_class))
    else:
        macro_f1 = micro_f1
    return {
        "macro_f1": macro_f1,
        "micro_f1": micro_f1,
        "precision": precision,
        "recall": recall,
        "support": int(n_gold),
    }


def extraction_scores(gold: EventsByVideo, predicted: EventsByVideo) -> dict:
    """The extraction scores of Table 2 for every target, grouped as in the table.

    Args:
        gold, predicted (`EventsByVideo`): as in `extraction_score`.

    Returns:
        `{"single": {target: scores}, "pair": {target: scores}, "quadruple": {"quadruple": scores}}` (groups and
        targets as in `EXTRACTION_GROUPS`), each `scores` being `extraction_score(gold, predicted, target)`:
        `{"macro_f1", "micro_f1", "precision", "recall", "support"}`.

    Raises:
        `ValueError` as `extraction_score`.
    """
    return {
        group: {target: extraction_score(gold, predicted, target) for target in targets}
        for group, targets in EXTRACTION_GROUPS.items()
    }


def per_video_extraction(gold: EventsByVideo, predicted: EventsByVideo, target: str = "quadruple") -> dict[str, float]:
    """The micro F1 of one target in each video, `{video_id: F1}` over the keys of `gold` (in their order), for a
    paired t-test between two systems (`sherlock.evaluation.significance.paired_t_test`).

    Each video's F1 is `2·TP / (#pred + #gold)` with that video's counts (module docstring); a video with neither a
    gold nor a predicted event scores 1.0, a video with only one of the two scores 0.0.

    Raises:
        `ValueError` as `extraction_score`.
    """
    fields = _check_target(target)
    _check_videos(gold, predicted)
    scores = {}
    for video_id, gold_events in gold.items():
        _, _, matched, n_gold, n_pred = _video_counts(gold_events, predicted.get(video_id, ()), fields)
        scores[video_id] = _micro(sum(matched.values()), n_pred, n_gold)[2]
    return scores


__all__ = [
    "EXTRACTION_GROUPS",
    "EXTRACTION_TARGETS",
    "extraction_score",
    "extraction_scores",
    "per_video_extraction",
]
