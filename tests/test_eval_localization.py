"""Temporal localisation (mAP@tIoU, Table 2, per-video F1): cases computed by hand, an independent loop-based
re-implementation on random inputs, and bad input."""

import math
import random

import pytest

from sherlock.evaluation import EvalEvent
from sherlock.evaluation.localization import (
    average_precision,
    interpolated_average_precision,
    map_at_tiou,
    per_video_localization,
    temporal_iou,
)


def ev(start, end, event_type=None, score=None):
    return EvalEvent(start=start, end=end, event_type=event_type, score=score)


# v1 gold: fight [0, 10], fight [20, 30]. Predictions: fight [0, 10] 0.9 (TP, tIoU 1), the same segment again at 0.8
#     (duplicate: [0, 10] is taken, tIoU with [20, 30] is 0 -> FP), fight [22, 30] 0.7 (tIoU 8/10 = 0.8 -> TP).
# v2 gold: fall [0, 4]. Predictions: fall [0, 0] 0.95 (zero-length -> FP), fall [2, 6] 0.5 (tIoU 2/6 = 1/3).
# v3 gold: none. Prediction fight [0, 5] 0.85 -> FP.
# v4 gold: fall [10, 20]. No prediction -> a miss.
# fight, ranked: 0.9 TP, 0.85 FP (v3), 0.8 FP, 0.7 TP; n_gold = 2. Precision 1, 1/2, 1/3, 2/4 at recall 1/2, 1/2,
#     1/2, 1. AP = 1/2 * 1 + 1/2 * 1/2 = 0.75 at t <= 0.8; at t = 0.9 [22, 30] misses: AP = 1/2 * 1 = 0.5.
# fall, ranked: 0.95 FP, 0.5 TP if 1/3 >= t; n_gold = 2 -> AP = 1/2 * 1/2 = 0.25 at t <= 1/3, 0 above.
# mAP: t in (0.1, 0.2, 0.3) -> (0.75 + 0.25) / 2 = 0.5; t = 0.5 -> 0.75 / 2; t = 0.9 -> 0.5 / 2.
# Class-agnostic at 0.3 (n_gold = 4): 0.95 FP (v2 [0, 0]), 0.9 TP, 0.85 FP, 0.8 FP, 0.7 TP, 0.5 TP. Precision at the
#     hits 1/2, 2/5, 3/6, made non-increasing from the right: 1/2, 1/2, 1/2 -> AP = 3 * 1/4 * 1/2 = 0.375.
GOLD = {
    "v1": [ev(0, 10, "fight"), ev(20, 30, "fight")],
    "v2": [ev(0, 4, "fall")],
    "v3": [],
    "v4": [ev(10, 20, "fall")],
    "v5": [],
}
PREDICTED = {
    "v1": [ev(0, 10, "fight", 0.9), ev(0, 10, "fight", 0.8), ev(22, 30, "fight", 0.7)],
    "v2": [ev(0, 0, "fall", 0.95), ev(2, 6, "fall", 0.5)],
    "v3": [ev(0, 5, "fight", 0.85)],
}


def test_hand_computed_duplicates_zero_length_no_gold_no_prediction():
    scores = map_at_tiou(GOLD, PREDICTED, thresholds=(0.1, 0.2, 0.3, 0.5, 0.9))
    for key in ("map@0.1", "map@0.2", "map@0.3"):
        assert scores[key] == pytest.approx(0.5)
    assert scores["map@0.5"] == pytest.approx(0.375)
    assert scores["map@0.9"] == pytest.approx(0.25)
    assert scores["map_mean"] == pytest.approx((0.5 * 3 + 0.375 + 0.25) / 5)
    assert scores["per_type"]["fight"] == pytest.approx({0.1: 0.75, 0.2: 0.75, 0.3: 0.75, 0.5: 0.75, 0.9: 0.5})
    assert scores["per_type"]["fall"] == pytest.approx({0.1: 0.25, 0.2: 0.25, 0.3: 0.25, 0.5: 0.0, 0.9: 0.0})
    assert list(scores["per_type"]) == ["fall", "fight"]
    assert scores["class_agnostic"]["map@0.3"] == pytest.approx(0.375)
    assert scores["predictions_without_times"] == 0
    assert scores["predictions_without_type"] == 0
    assert scores["predictions_of_unknown_type"] == 0


def test_default_thresholds_keys():
    scores = map_at_tiou(GOLD, PREDICTED)
    assert set(scores) >= {"map@0.1", "map@0.2", "map@0.3", "map_mean", "per_type", "class_agnostic"}
    assert set(scores["class_agnostic"]) == {"map@0.1", "map@0.2", "map@0.3", "map_mean"}
    assert scores["map_mean"] == pytest.approx(0.5)


def test_average_precision_one_class_and_agnostic():
    assert average_precision(GOLD, PREDICTED, 0.3, "fight") == pytest.approx(0.75)
    assert average_precision(GOLD, PREDICTED, 0.3) == pytest.approx(0.375)
    with pytest.raises(ValueError, match="'explosion'"):
        average_precision(GOLD, PREDICTED, 0.3, "explosion")


def test_unknown_type_untyped_and_timeless_predictions():
    # Added to v1: an unknown type at the right place (0.99), an untyped copy of [20, 30] (0.99) and two predictions
    # without times. Per type nothing changes: the unknown type adds FPs to no class, the untyped one is excluded.
    # Class-agnostic at 0.3: 0.99 unknown-type [0, 10] TP, 0.99 untyped [20, 30] TP, 0.95 FP, 0.9 FP ([0, 10] is
    # taken), 0.85 FP, 0.8 FP, 0.7 FP ([20, 30] taken), 0.5 TP. Hits at ranks 1, 2, 8: precision 1, 1, 3/8 ->
    # AP = 1/4 + 1/4 + 3/8 * 1/4 = 0.59375.
    predicted = dict(PREDICTED)
    predicted["v1"] = [
        ev(0, 10, "explosion", 0.99),
        ev(20, 30, None, 0.99),
        ev(None, None, "fight", 1.0),
        ev(5, None, "fight", 1.0),
        *PREDICTED["v1"],
    ]
    scores = map_at_tiou(GOLD, predicted)
    assert scores["map@0.3"] == pytest.approx(0.5)
    assert scores["per_type"] == map_at_tiou(GOLD, PREDICTED)["per_type"]
    assert "explosion" not in scores["per_type"]
    assert scores["class_agnostic"]["map@0.3"] == pytest.approx(0.59375)
    assert scores["predictions_without_times"] == 2
    assert scores["predictions_without_type"] == 1
    assert scores["predictions_of_unknown_type"] == 1


def test_score_ties_keep_input_order_and_unscored_rank_last():
    gold = {"v1": [ev(0, 10, "a")], "v2": []}
    hit, miss = ev(0, 10, "a", 0.5), ev(50, 60, "a", 0.5)
    # FP first then TP: precision 1/2 at recall 1 -> 0.5; TP first -> 1.0.
    assert map_at_tiou(gold, {"v1": [miss, hit]})["map@0.3"] == pytest.approx(0.5)
    assert map_at_tiou(gold, {"v1": [hit, miss]})["map@0.3"] == pytest.approx(1.0)
    # Across videos: the video order of `predicted`.
    assert map_at_tiou(gold, {"v2": [ev(0, 10, "a", 0.5)], "v1": [hit]})["map@0.3"] == pytest.approx(0.5)
    assert map_at_tiou(gold, {"v1": [hit], "v2": [ev(0, 10, "a", 0.5)]})["map@0.3"] == pytest.approx(1.0)
    # A prediction without a score ranks after a scored one, even a low one.
    assert map_at_tiou(gold, {"v1": [ev(0, 10, "a"), ev(50, 60, "a", 0.01)]})["map@0.3"] == pytest.approx(0.5)
    assert map_at_tiou(gold, {"v1": [ev(0, 10, "a"), ev(50, 60, "a", 0.0)]})["map@0.3"] == pytest.approx(0.5)
    assert map_at_tiou(gold, {"v1": [ev(0, 10, "a"), ev(50, 60, "a", -3.0)]})["map@0.3"] == pytest.approx(0.5)


def test_match_highest_tiou_not_first_above_threshold():
    # [5, 14] has tIoU 5/14 with [0, 10] and 9/10 with [5, 15] -> takes [5, 15]; then [0, 9] takes [0, 10] (0.9).
    # Matching the first gold segment above 0.3 instead would leave [0, 9] vs [5, 15] (4/15 < 0.3): AP 0.5.
    gold = {"v": [ev(0, 10, "a"), ev(5, 15, "a")]}
    predicted = {"v": [ev(5, 14, "a", 0.9), ev(0, 9, "a", 0.8)]}
    assert map_at_tiou(gold, predicted)["map@0.3"] == pytest.approx(1.0)


def test_tiou_tie_takes_the_earlier_gold_event():
    # [2, 8] has tIoU 2/8 with both [0, 4] and [6, 10] -> takes [0, 4]; then [0, 4] finds it taken -> FP.
    # AP at 0.2 = 1/2 * 1 = 0.5 (it would be 1.0 had the tie gone to [6, 10]).
    gold = {"v": [ev(0, 4, "a"), ev(6, 10, "a")]}
    predicted = {"v": [ev(2, 8, "a", 0.9), ev(0, 4, "a", 0.8)]}
    assert map_at_tiou(gold, predicted, thresholds=(0.2,))["map@0.2"] == pytest.approx(0.5)


def test_overlapping_predictions():
    # Gold [0, 10]; [0, 8] (0.8) 0.9 TP, [2, 10] (0.8) 0.8 FP (gold taken), [0, 10] 0.7 FP.
    gold = {"v": [ev(0, 10, "a")]}
    predicted = {"v": [ev(0, 8, "a", 0.9), ev(2, 10, "a", 0.8), ev(0, 10, "a", 0.7)]}
    assert map_at_tiou(gold, predicted)["map_mean"] == pytest.approx(1.0)
    # At 0.9 the first two miss and [0, 10] is the third: precision 1/3 -> AP 1/3.
    assert map_at_tiou(gold, predicted, thresholds=(0.9,))["map@0.9"] == pytest.approx(1 / 3)


def test_perfect_and_empty_predictions():
    perfect = {v: [ev(e.start, e.end, e.event_type, 1.0) for e in events] for v, events in GOLD.items()}
    scores = map_at_tiou(GOLD, perfect, thresholds=(0.1, 0.5, 1.0))
    assert scores["map_mean"] == pytest.approx(1.0)
    assert scores["class_agnostic"]["map_mean"] == pytest.approx(1.0)
    for predicted in ({}, {"v1": []}, {"v1": [ev(None, None, "fight", 1.0)]}):
        scores = map_at_tiou(GOLD, predicted)
        assert scores["map_mean"] == 0.0 and scores["class_agnostic"]["map_mean"] == 0.0
        assert all(ap == 0.0 for aps in scores["per_type"].values() for ap in aps.values())


def test_zero_length_spans():
    assert temporal_iou((0, 0), (0, 0)) == 0.0
    assert temporal_iou((5, 5), (0, 10)) == 0.0
    assert temporal_iou((0, 10), (5, 5)) == 0.0
    assert temporal_iou((0, 10), (10, 20)) == 0.0
    assert temporal_iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert temporal_iou((0, 10), (2, 4)) == pytest.approx(0.2)
    # A zero-length gold segment can never be found; a zero-length prediction is always a FP.
    assert map_at_tiou({"v": [ev(3, 3, "a")]}, {"v": [ev(3, 3, "a", 1.0)]})["map_mean"] == 0.0
    assert map_at_tiou({"v": [ev(0, 10, "a")]}, {"v": [ev(5, 5, "a", 1.0)]})["map_mean"] == 0.0


def test_gold_without_times_is_ignored_and_untyped_gold():
    # The timeless gold event is no miss: AP 1.0, not 0.5.
    gold = {"v": [ev(0, 10, "a"), ev(None, None, "a"), ev(None, 3, "b")]}
    scores = map_at_tiou(gold, {"v": [ev(0, 10, "a", 1.0)]})
    assert scores["map_mean"] == 1.0 and list(scores["per_type"]) == ["a"]
    # Gold with times but no type: the per-type mAP is NaN, the class-agnostic one is defined.
    scores = map_at_tiou({"v": [ev(0, 10)]}, {"v": [ev(0, 10, None, 1.0)]})
    assert math.isnan(scores["map@0.3"]) and math.isnan(scores["map_mean"]) and scores["per_type"] == {}
    assert scores["class_agnostic"]["map_mean"] == 1.0


def test_interpolated_average_precision():
    assert interpolated_average_precision([True, False, False, True], 2) == pytest.approx(0.75)
    assert interpolated_average_precision([], 3) == 0.0
    assert interpolated_average_precision([False, True], 4) == pytest.approx(1 / 8)
    # Non-increasing envelope: hits at ranks 1, 3, 4 of 4 gold -> precisions 1, 2/3, 3/4 -> 1/4 (1 + 3/4 + 3/4).
    assert interpolated_average_precision([True, False, True, True], 4) == pytest.approx(0.625)


def test_per_video_localization():
    # At 0.3, types ignored: v1 TP 2 of 3 predictions, 2 gold -> 2*2/5; v2 TP 1 ([2, 6]) of 2, 1 gold -> 2/3;
    # v3 a prediction and no gold -> 0; v4 gold and no prediction -> 0; v5 neither -> 1.0.
    scores = per_video_localization(GOLD, PREDICTED)
    assert scores == pytest.approx({"v1": 0.8, "v2": 2 / 3, "v3": 0.0, "v4": 0.0, "v5": 1.0})
    assert list(scores) == list(GOLD)
    # At 0.5 [2, 6] misses in v2.
    assert per_video_localization(GOLD, PREDICTED, threshold=0.5)["v2"] == 0.0
    # Types are ignored; timeless predictions are dropped.
    assert per_video_localization({"v": [ev(0, 10, "a")]}, {"v": [ev(0, 10, "b"), ev(None, None)]}) == {"v": 1.0}


def test_errors():
    with pytest.raises(ValueError, match="no gold event with a time span"):
        map_at_tiou({"v": [ev(None, None, "a")], "w": []}, {})
    with pytest.raises(ValueError, match="'ghost'"):
        map_at_tiou(GOLD, {"ghost": [ev(0, 1, "a", 1.0)]})
    with pytest.raises(ValueError, match="'ghost'"):
        per_video_localization(GOLD, {"ghost": []})
    for thresholds in ((), (0.0,), (1.5,), (0.3, 0.3), (True,), ("0.3",)):
        with pytest.raises(ValueError, match="threshold"):
            map_at_tiou(GOLD, PREDICTED, thresholds=thresholds)
    with pytest.raises(ValueError, match="threshold"):
        per_video_localization(GOLD, PREDICTED, threshold=-0.1)
    with pytest.raises(ValueError, match="bad span: start=5.0, end=nan"):
        map_at_tiou(GOLD, {"v1": [ev(5, math.nan, "a", 1.0)]})
    with pytest.raises(ValueError, match=r"`end` \(1.0\) is before `start` \(5.0\)"):
        map_at_tiou(GOLD, {"v1": [{"start": 5, "end": 1}]})
    with pytest.raises(ValueError, match="NaN score"):
        map_at_tiou(GOLD, {"v1": [ev(0, 1, "a", math.nan)]})
    with pytest.raises(ValueError, match="start=3.0, end=1.0"):
        temporal_iou((3, 1), (0, 1))
    with pytest.raises(ValueError, match="3 values"):
        temporal_iou((0, 1, 2), (0, 1))
    with pytest.raises(ValueError, match="n_gold"):
        interpolated_average_precision([True], 0)
    with pytest.raises(ValueError, match="2 true positives for only 1"):
        interpolated_average_precision([True, True], 1)


def test_dict_inputs():
    gold = {"v": [{"start": 0, "end": 10, "event_type": "a"}]}
    assert map_at_tiou(gold, {"v": [{"start": 1, "end": 10, "event_type": "a", "score": 0.3}]})["map_mean"] == 1.0


# ---- An independent re-implementation: plain loops, nothing shared with the module. ----


def ref_iou(s1, e1, s2, e2):
    inter = min(e1, e2) - max(s1, s2)
    if inter <= 0:
        return 0.0
    return inter / (max(e1, e2) - min(s1, s2))


def ref_ap(gold, predicted, threshold, event_type, agnostic):
    golds = {}
    n_gold = 0
    for video in gold:
        golds[video] = []
        for e in gold[video]:
            if e.start is not None and e.end is not None and (agnostic or e.event_type == event_type):
                golds[video].append([e.start, e.end, False])
                n_gold += 1
    preds = []
    position = 0
    for video in predicted:
        for e in predicted[video]:
            if e.start is None or e.end is None:
                continue
            if agnostic or e.event_type == event_type:
                unscored = 1 if e.score is None else 0
                preds.append((unscored, 0.0 if e.score is None else -e.score, position, video, e.start, e.end))
                position += 1
    preds.sort()
    hits = []
    for _, _, _, video, start, end in preds:
        best = None
        best_iou = -1.0
        for g in golds[video]:
            if not g[2]:
                iou = ref_iou(start, end, g[0], g[1])
                if iou > best_iou:
                    best, best_iou = g, iou
        if best is not None and best_iou >= threshold:
            best[2] = True
            hits.append(True)
        else:
            hits.append(False)
    precisions = []
    tp = 0
    for k, hit in enumerate(hits):
        tp += hit
        precisions.append(tp / (k + 1))
    ap = 0.0
    for k, hit in enumerate(hits):
        if hit:
            ap += max(precisions[k:]) / n_gold
    return ap


def random_event(rng, types, gold):
    start = rng.choice([None, 0, 1, 2, 3, 5, 8, 10, 12])
    length = rng.choice([0, 0.5, 1, 2, 3, 5, 8])
    end = None if start is None or rng.random() < 0.1 else start + length
    score = None if gold else rng.choice([None, -1.0, 0.0, 0.1, 0.5, 0.5, 0.9, rng.random()])
    return ev(start, end, rng.choice(types), score)


@pytest.mark.parametrize("seed", range(200))
def test_agrees_with_loop_reimplementation(seed):
    rng = random.Random(seed)
    videos = [f"v{i}" for i in range(rng.randint(1, 4))]
    gold = {v: [random_event(rng, ["a", "b", None], True) for _ in range(rng.randint(0, 4))] for v in videos}
    chosen = rng.sample(videos, rng.randint(0, len(videos)))
    predicted = {
        v: [random_event(rng, ["a", "b", "c", None], False) for _ in range(rng.randint(0, 6))] for v in chosen
    }
    thresholds = (0.1, 0.3, 0.5, 0.7)
    has_span = any(e.start is not None and e.end is not None for events in gold.values() for e in events)
    if not has_span:
        with pytest.raises(ValueError, match="no gold event with a time span"):
            map_at_tiou(gold, predicted, thresholds)
        return
    scores = map_at_tiou(gold, predicted, thresholds)
    types = {e.event_type for es in gold.values() for e in es if e.start is not None and e.end is not None}
    types = sorted(t for t in types if t is not None)
    assert list(scores["per_type"]) == types
    for t in thresholds:
        aps = [ref_ap(gold, predicted, t, event_type, False) for event_type in types]
        for event_type, ap in zip(types, aps):
            assert scores["per_type"][event_type][t] == pytest.approx(ap)
        if aps:
            assert scores[f"map@{t:g}"] == pytest.approx(sum(aps) / len(aps))
        else:
            assert math.isnan(scores[f"map@{t:g}"])
        assert scores["class_agnostic"][f"map@{t:g}"] == pytest.approx(ref_ap(gold, predicted, t, None, True))
    per_video = per_video_localization(gold, predicted, threshold=0.3)
    assert list(per_video) == videos
    for v in videos:
        n_g = sum(1 for e in gold[v] if e.start is not None and e.end is not None)
        n_p = sum(1 for e in predicted.get(v, []) if e.start is not None and e.end is not None)
        if n_g == 0 and n_p == 0:
            assert per_video[v] == 1.0
        elif n_g == 0:
            assert per_video[v] == 0.0
        else:
            tp = ref_tp({v: gold[v]}, {v: predicted.get(v, [])}, 0.3)
            assert per_video[v] == pytest.approx(2 * tp / (n_g + n_p))


def ref_tp(gold, predicted, threshold):
    (video,) = gold
    golds = [[e.start, e.end, False] for e in gold[video] if e.start is not None and e.end is not None]
    preds = [e for e in predicted[video] if e.start is not None and e.end is not None]
    order = sorted(range(len(preds)), key=lambda i: (preds[i].score is None, -(preds[i].score or 0.0), i))
    tp = 0
    for i in order:
        best, best_iou = None, -1.0
        for g in golds:
            if not g[2]:
                iou = ref_iou(preds[i].start, preds[i].end, g[0], g[1])
                if iou > best_iou:
                    best, best_iou = g, iou
        if best is not None and best_iou >= threshold:
            best[2] = True
            tp += 1
    return tp
