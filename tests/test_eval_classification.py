"""Frame-level classification (FNR, F2, per scene, per second, per video) and the paired t-test, on cases computed
by hand, against scikit-learn / scipy, and on bad input."""

import math
import random

import pytest

from sherlock.evaluation import EvalEvent
from sherlock.evaluation.classification import classification_scores, per_second_scores, per_video_classification
from sherlock.evaluation.significance import paired_t_test


def span(start, end, scene=None):
    return EvalEvent(start=start, end=end, scene=scene)


# At fps = 1 frame k is the instant t = k s.
# v1 (10 s, frames 0..9): gold [2, 5] Street -> {2, 3, 4, 5}; two overlapping predictions [1, 3] and [3, 4] ->
#     {1, 2, 3, 4} (frame 3 once). TP = 3 (2, 3, 4), FN = 1 (5), FP = 1 (1).
# v2 (4 s, frames 0..3): no gold event; prediction [0.5, 1.5] -> {1}: FP = 1, no scene.
# v3 (3 s, frames 0..2): gold [0, 1] Road -> {0, 1}; no prediction: FN = 2.
# Overall TP = 3, FN = 3, FP = 2: FNR = 3/6, P = 3/5, R = 3/6, F2 = 5*3 / (5*3 + 4*3 + 2) = 15/29.
GOLD = {"v1": [span(2, 5, "Street")], "v2": [], "v3": [span(0, 1, "Road")]}
PREDICTED = {"v1": [span(1, 3), span(3, 4)], "v2": [span(0.5, 1.5)]}
DURATIONS = {"v1": 10.0, "v2": 4.0, "v3": 3.0, "unused": 7.0}


def test_hand_computed_overlap_no_gold_and_no_prediction():
    scores = classification_scores(GOLD, PREDICTED, DURATIONS, fps=1)
    assert scores["fnr"] == pytest.approx(0.5)
    assert scores["precision"] == pytest.approx(0.6)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f2"] == pytest.approx(15 / 29)
    assert scores["positive_frames"] == 6 and scores["frames"] == 17
    # Street: the frames of v1 only (TP 3, FN 1, FP 1); Road: the frames of v3 (FN 2).
    assert scores["per_scene_fnr"] == pytest.approx({"Street": 0.25, "Road": 1.0})
    assert scores["per_scene_f2"] == pytest.approx({"Street": 15 / 20, "Road": 0.0})


def test_only_the_video_without_gold_gives_false_positives():
    scores = classification_scores({"v2": []}, {"v2": PREDICTED["v2"]}, DURATIONS, fps=1)
    assert scores["positive_frames"] == 0 and scores["frames"] == 4
    # No positive frame: FNR defined as 0.0, recall / precision / F2 0.0, no scene.
    assert (scores["fnr"], scores["recall"], scores["precision"], scores["f2"]) == (0.0, 0.0, 0.0, 0.0)
    assert scores["per_scene_fnr"] == {} and scores["per_scene_f2"] == {}


def test_several_scenes_in_one_video():
    # 6 s, frames 0..5. Gold [0, 1] Street, [1, 2] Road (frame 1 in both), [5, 5] without scene -> {0, 1, 2, 5};
    # the negative frames {3, 4} belong to Street and Road. Prediction [2, 3] -> {2, 3}.
    gold = {"v": [span(1, 2, "Road"), span(0, 1, "Street"), span(5, 5), span(0, 0, "Moon")]}
    scores = classification_scores(gold, {"v": [span(2, 3)]}, {"v": 6}, fps=1)
    # Overall TP 1 (2), FN 3 (0, 1, 5), FP 1 (3): F2 = 5 / (5 + 12 + 1).
    assert scores["fnr"] == pytest.approx(0.75) and scores["f2"] == pytest.approx(5 / 18)
    # Street {0, 1, 3, 4}: FN 2, FP 1. Road {1, 2, 3, 4}: TP 1, FN 1, FP 1. Moon {0, 3, 4}: FN 1, FP 1.
    assert scores["per_scene_fnr"] == pytest.approx({"Street": 1.0, "Road": 0.5, "Moon": 1.0})
    assert scores["per_scene_f2"] == pytest.approx({"Street": 0.0, "Road": 0.5, "Moon": 0.0})
    assert list(scores["per_scene_f2"]) == ["Street", "Road", "Moon"]  # SCENES order, then others.


def test_zero_length_spans_cover_the_frame_at_that_instant_only():
    # 2 s at 2 fps: frames at 0, 0.5, 1, 1.5. Gold point 1.0 -> frame 2; gold point 1.2 -> no frame.
    # Prediction point 0.75 -> no frame; prediction point 1.0 -> frame 2.
    gold = {"v": [span(1.0, 1.0), span(1.2, 1.2)]}
    assert classification_scores(gold, {"v": [span(0.75, 0.75)]}, {"v": 2}, fps=2)["positive_frames"] == 1
    assert classification_scores(gold, {"v": [span(0.75, 0.75)]}, {"v": 2}, fps=2)["fnr"] == 1.0
    assert classification_scores(gold, {"v": [span(1.0, 1.0)]}, {"v": 2}, fps=2)["f2"] == 1.0


def test_spans_past_the_duration_are_clipped():
    # 2 s at 2 fps: frames at 0, 0.5, 1, 1.5. Gold [1, 1.5] -> {2, 3}. Prediction [1, 100] -> {2, 3},
    # [-5, 0] -> {0}. TP 2, FP 1: precision 2/3, F2 = 10 / 11. A gold span after the end covers nothing.
    gold = {"v": [span(1, 1.5), span(3, 9)]}
    scores = classification_scores(gold, {"v": [span(1, 100), span(-5, 0)]}, {"v": 2}, fps=2)
    assert scores["frames"] == 4 and scores["positive_frames"] == 2
    assert scores["precision"] == pytest.approx(2 / 3) and scores["f2"] == pytest.approx(10 / 11)


def test_events_without_times_are_ignored():
    gold = {"v": [span(0, 1, "Bank"), EvalEvent(start=2.0, scene="Shop"), EvalEvent(event_type="Theft")]}
    predicted = {"v": [{"start": 0, "end": 1}, {"end": 3.0}, EvalEvent(scene="Shop")]}
    scores = classification_scores(gold, predicted, {"v": 4}, fps=1)
    assert scores["positive_frames"] == 2 and scores["f2"] == 1.0 and scores["precision"] == 1.0
    assert scores["per_scene_f2"] == {"Bank": 1.0}  # "Shop" came from an event without a span.


def test_frame_count_is_robust_to_float_noise():
    assert 0.1 * 3 * 10 > 3  # 3.0000000000000004
    assert classification_scores({"v": []}, {}, {"v": 0.1 * 3}, fps=10)["frames"] == 3
    # A span starting at 0.1 * 3 (a hair after 0.3) still covers the frame at 3 / 10 (tolerance 1e-9 s).
    assert classification_scores({"v": [span(0.1 * 3, 0.5)]}, {}, {"v": 1}, fps=10)["positive_frames"] == 3
    assert classification_scores({"v": []}, {}, {"v": 0.31}, fps=10)["frames"] == 4
    assert classification_scores({"v": []}, {}, {"v": 0}, fps=8)["frames"] == 0
    assert classification_scores({"v": []}, {}, {"v": 2.0})["frames"] == 16  # default 8 fps


def test_perfect_and_empty_predictions():
    perfect = classification_scores(GOLD, GOLD, DURATIONS)
    assert perfect["fnr"] == 0.0 and perfect["f2"] == 1.0 and perfect["precision"] == 1.0
    assert set(perfect["per_scene_f2"].values()) == {1.0} and set(perfect["per_scene_fnr"].values()) == {0.0}
    empty = classification_scores(GOLD, {}, DURATIONS)
    assert empty["fnr"] == 1.0 and empty["f2"] == 0.0 and empty["precision"] == 0.0 and empty["recall"] == 0.0
    # 8 fps: v1 [2, 5] -> 25 frames, v3 [0, 1] -> 9 frames.
    assert empty["positive_frames"] == 34


def test_per_second_scores_use_whole_seconds():
    # Seconds 0..4. Gold [1.5, 3.2] -> {2, 3}; [2.2, 2.8] covers no whole second. Prediction [3, 4] -> {3, 4}.
    gold = {"v": [span(1.5, 3.2, "School"), span(2.2, 2.8, "School")]}
    scores = per_second_scores(gold, {"v": [span(3, 4)]}, {"v": 4.5})
    assert scores["frames"] == 5 and scores["positive_frames"] == 2
    assert scores["fnr"] == 0.5 and scores["f2"] == pytest.approx(5 / (5 + 4 + 1))
    assert scores == classification_scores(gold, {"v": [span(3, 4)]}, {"v": 4.5}, fps=1)


def test_per_video_classification_skips_videos_without_gold_positive_frames():
    assert per_video_classification(GOLD, PREDICTED, DURATIONS, fps=1) == pytest.approx({"v1": 0.75, "v3": 0.0})
    fnr = per_video_classification(GOLD, PREDICTED, DURATIONS, fps=1, metric="fnr")
    assert fnr == pytest.approx({"v1": 0.25, "v3": 1.0})


def _frame_labels(events, duration, fps):
    """An independent, loop-based labelling: frame k at k / fps is positive inside some closed [start, end]."""
    return [
        int(any(event.start <= k / fps <= event.end for event in events))
        for k in range(math.ceil(duration * fps - 1e-9))
    ]


@pytest.mark.parametrize("seed", range(40))
def test_f2_agrees_with_sklearn_on_random_segments(seed):
    from sklearn.metrics import fbeta_score, precision_score, recall_score

    rng = random.Random(seed)
    fps = rng.choice([1.0, 2.0, 8.0, 25.0])

    def random_events(duration):
        events = []
        for _ in range(rng.randint(0, 4)):
            start = rng.uniform(-1, duration + 1)
            events.append(span(start, start + rng.choice([0.0, rng.uniform(0, duration / 2)])))
        return events

    durations = {f"v{i}": rng.uniform(0, 20) for i in range(rng.randint(1, 6))}
    gold = {video: random_events(duration) for video, duration in durations.items()}
    predicted = {video: random_events(duration) for video, duration in durations.items() if rng.random() < 0.8}
    y_true, y_pred = [], []
    for video, duration in durations.items():
        y_true += _frame_labels(gold[video], duration, fps)
        y_pred += _frame_labels(predicted.get(video, []), duration, fps)
    scores = classification_scores(gold, predicted, durations, fps=fps)
    assert scores["frames"] == len(y_true) and scores["positive_frames"] == sum(y_true)
    assert scores["f2"] == pytest.approx(fbeta_score(y_true, y_pred, beta=2, zero_division=0))
    assert scores["precision"] == pytest.approx(precision_score(y_true, y_pred, zero_division=0))
    assert scores["recall"] == pytest.approx(recall_score(y_true, y_pred, zero_division=0))
    missed = sum(t and not p for t, p in zip(y_true, y_pred))
    assert scores["fnr"] == pytest.approx(missed / sum(y_true) if sum(y_true) else 0.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: classification_scores(GOLD, PREDICTED, {"v1": 10, "v2": 4}), "No duration for video 'v3'"),
        (lambda: classification_scores(GOLD, {"v9": []}, DURATIONS), "1 predicted video.* not in gold, e.g. 'v9'"),
        (lambda: classification_scores(GOLD, PREDICTED, DURATIONS, fps=0), "`fps` must be a positive.*got 0"),
        (lambda: classification_scores({"v": []}, {}, {"v": -1.0}), "video 'v' must be a finite number >= 0, got -1"),
        (lambda: classification_scores({"v": []}, {}, {"v": math.nan}), "video 'v' must be a finite number"),
        (
            lambda: classification_scores({"v": [span(3.0, 2.0)]}, {}, {"v": 5}),
            "Gold event 0 of video 'v' has a bad span: start=3.0, end=2.0",
        ),
        (
            lambda: classification_scores({"v": []}, {"v": [span(1.0, 2.0), span(math.nan, 1.0)]}, {"v": 5}),
            "Predicted event 1 of video 'v' has a bad span: start=nan",
        ),
        (lambda: per_video_classification(GOLD, PREDICTED, DURATIONS, metric="auc"), "'f2' or 'fnr', got 'auc'"),
    ],
)
def test_classification_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("seed", range(10))
def test_paired_t_test_agrees_with_scipy(seed):
    from scipy import stats

    rng = random.Random(seed)
    ids = [f"v{i}" for i in range(rng.randint(2, 30))]
    a = {video: rng.random() for video in ids}
    b = {video: rng.random() for video in reversed(ids)}  # the order of the keys does not matter
    result = paired_t_test(a, b)
    expected = stats.ttest_rel([a[v] for v in ids], [b[v] for v in ids])
    assert result["t"] == pytest.approx(expected.statistic) and result["p_value"] == pytest.approx(expected.pvalue)
    assert result["n"] == len(ids)
    assert result["mean_a"] == pytest.approx(sum(a.values()) / len(ids))
    assert result["mean_difference"] == pytest.approx(result["mean_a"] - result["mean_b"])


def test_paired_t_test_degenerate_differences():
    same = {"a": 0.5, "b": 0.25, "c": 1.0}
    assert paired_t_test(same, dict(same)) == {
        "t": 0.0,
        "p_value": 1.0,
        "n": 3,
        "mean_a": pytest.approx(7 / 12),
        "mean_b": pytest.approx(7 / 12),
        "mean_difference": 0.0,
    }
    shifted = {video: value - 0.25 for video, value in same.items()}  # exact in binary: d = 0.25 everywhere
    assert (paired_t_test(same, shifted)["t"], paired_t_test(same, shifted)["p_value"]) == (math.inf, 0.0)
    assert paired_t_test(shifted, same)["t"] == -math.inf


def test_paired_t_test_on_per_video_scores():
    better = per_video_classification(GOLD, GOLD, DURATIONS)
    worse = per_video_classification(GOLD, PREDICTED, DURATIONS)
    result = paired_t_test(better, worse)
    assert result["n"] == 2 and result["mean_a"] == 1.0 and result["mean_difference"] > 0


@pytest.mark.parametrize(
    "a, b, message",
    [
        ({"x": 1.0, "y": 2.0}, {"x": 1.0, "z": 2.0}, "1 only in `scores_a`, 1 only in `scores_b` \\(e.g. 'y'\\)"),
        ({"x": 1.0}, {"x": 2.0}, "at least 2 videos, got 1"),
        ({}, {}, "at least 2 videos, got 0"),
        ({"x": 1.0, "y": math.nan}, {"x": 1.0, "y": 2.0}, "`scores_a\\['y'\\]` must be a finite number, got nan"),
        ({"x": 1.0, "y": 2.0}, {"x": "1", "y": 2.0}, "`scores_b\\['x'\\]` must be a finite number, got '1'"),
    ],
)
def test_paired_t_test_errors(a, b, message):
    with pytest.raises(ValueError, match=message):
        paired_t_test(a, b)
