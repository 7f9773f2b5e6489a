"""Extraction F1 of Table 2: multiset matching per video, micro and macro F1, hand-computed cases and scikit-learn."""

import itertools
import random
from fractions import Fraction

import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from sherlock.evaluation import EvalEvent
from sherlock.evaluation.extraction import (
    EXTRACTION_GROUPS,
    EXTRACTION_TARGETS,
    extraction_score,
    extraction_scores,
    per_video_extraction,
)


def q(subject, event_type, obj, scene, start=None, end=None):
    return EvalEvent(start=start, end=end, subject=subject, event_type=event_type, object=obj, scene=scene)


A = q("man", "Fighting", "man", "Street")
B = q("car", "Traffic", "motorcycle", "Road")
C = q("woman", "Theft", "phone", "Shop")
D = q("man", "Fire", "none", "Residence")

# v1: duplicates (A twice in gold, three times predicted) and a wrong object (car instead of motorcycle), with times;
# v2: no gold event, one prediction with an unknown subject; v3: a prediction whose object is None;
# v4: a gold event and no predictions (missing from `predicted`).
GOLD = {"v1": [A, A, B], "v2": [], "v3": [C], "v4": [D]}
PREDICTED = {
    "v1": [A, q("man", "Fighting", "man", "Street", 3.0, 9.0), A, q("car", "Traffic", "car", "Road", 1.0, 2.0)],
    "v2": [q("unicorn", "Animals", "child", "Lawn")],
    "v3": [q("woman", "Theft", None, "Shop")],
}


def close(value, fraction):
    return value == pytest.approx(float(fraction), abs=1e-12)


def test_quadruple_by_hand():
    # TP: v1 min(2, 3) = 2 for A, B != B'; v3's prediction is incomplete (None) -> FP. #pred 4+1+1 = 6, #gold 5.
    scores = extraction_score(GOLD, PREDICTED, "quadruple")
    assert close(scores["precision"], Fraction(2, 6)) and close(scores["recall"], Fraction(2, 5))
    assert close(scores["micro_f1"], Fraction(4, 11))
    # classes A, B, B', unicorn-quadruple, C, D (the None prediction is no class): only F1_A = 2*2/(2+3) is non-zero.
    assert close(scores["macro_f1"], Fraction(4, 5) / 6)
    assert scores["support"] == 5


def test_single_elements_by_hand():
    subject = extraction_score(GOLD, PREDICTED, "subject")
    # TP: v1 man min(2,3)=2 + car 1, v3 woman 1 (complete for `subject`): 4 of 6 predicted, 5 gold.
    assert close(subject["precision"], Fraction(4, 6)) and close(subject["recall"], Fraction(4, 5))
    assert close(subject["micro_f1"], Fraction(8, 11))
    # man: TP 2, gold 3 (v1, v4), pred 3 -> 4/6; car 1; unicorn 0; woman 1.
    assert close(subject["macro_f1"], (Fraction(2, 3) + 1 + 0 + 1) / 4)

    event_type = extraction_score(GOLD, PREDICTED, "event_type")
    assert close(event_type["micro_f1"], Fraction(8, 11))
    # Fighting 2*2/(2+3), Traffic 1, Animals 0, Theft 1, Fire 0.
    assert close(event_type["macro_f1"], (Fraction(4, 5) + 1 + 0 + 1 + 0) / 5)

    obj = extraction_score(GOLD, PREDICTED, "object")
    # TP: v1 man 2; v3's object is None -> FP, phone -> FN.
    assert close(obj["precision"], Fraction(2, 6)) and close(obj["recall"], Fraction(2, 5))
    # man 4/5; motorcycle, car, child, phone, none 0.
    assert close(obj["macro_f1"], Fraction(4, 5) / 6)


def test_pairs_by_hand():
    subject_scene = extraction_score(GOLD, PREDICTED, "subject_scene")
    # (man, Street) 2 + (car, Road) 1 + (woman, Shop) 1 = 4; classes (man, Street) 4/5, (car, Road) 1,
    # (unicorn, Lawn) 0, (woman, Shop) 1, (man, Residence) 0.
    assert close(subject_scene["micro_f1"], Fraction(8, 11))
    assert close(subject_scene["macro_f1"], (Fraction(4, 5) + 1 + 0 + 1 + 0) / 5)
    object_type = extraction_score(GOLD, PREDICTED, "object_type")
    assert close(object_type["micro_f1"], Fraction(4, 11))
    assert close(object_type["macro_f1"], Fraction(4, 5) / 6)


def test_per_video_by_hand_and_empty_video_is_perfect():
    gold = {**GOLD, "v5": []}
    assert per_video_extraction(gold, PREDICTED) == pytest.approx(
        {"v1": 4 / 7, "v2": 0.0, "v3": 0.0, "v4": 0.0, "v5": 1.0}
    )
    assert list(per_video_extraction(gold, PREDICTED)) == ["v1", "v2", "v3", "v4", "v5"]
    assert per_video_extraction(gold, PREDICTED, "subject")["v3"] == 1.0


def test_perfect_predictions_score_one_everywhere():
    gold = {"v1": [A, A, B], "v2": [], "v3": [C, D]}
    predicted = {"v1": [B, A, q("man", "Fighting", "man", "Street", 0.0, 1.0)], "v3": [D, C]}
    scores = extraction_scores(gold, predicted)
    for group, targets in EXTRACTION_GROUPS.items():
        for target in targets:
            assert {k: v for k, v in scores[group][target].items() if k != "support"} == dict.fromkeys(
                ("macro_f1", "micro_f1", "precision", "recall"), 1.0
            )
    assert set(per_video_extraction(gold, predicted).values()) == {1.0}


def test_empty_predictions_score_zero():
    scores = extraction_scores(GOLD, {})
    for targets in scores.values():
        for values in targets.values():
            assert values == {"macro_f1": 0.0, "micro_f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 5}
    assert per_video_extraction(GOLD, {"v1": []}) == {"v1": 0.0, "v2": 1.0, "v3": 0.0, "v4": 0.0}


def test_zero_denominators():
    ones = {"macro_f1": 1.0, "micro_f1": 1.0, "precision": 1.0, "recall": 1.0, "support": 0}
    assert extraction_score({}, {}) == ones
    assert extraction_score({"v": []}, {"v": []}) == ones
    # predictions without any gold event: nothing right.
    zeros = {"macro_f1": 0.0, "micro_f1": 0.0, "precision": 0.0, "recall": 0.0, "support": 0}
    assert extraction_score({"v": []}, {"v": [A]}) == zeros
    # only incomplete values: no class at all, macro = micro = 0.
    assert extraction_score({"v": [q(None, "Theft", "a", "Shop")]}, {}, "subject") == {**zeros, "support": 1}


def test_incomplete_gold_events_count_and_match_nothing():
    gold = {"v": [q(None, "Theft", "phone", "Shop")]}
    predicted = {"v": [q(None, "Theft", "phone", "Shop")]}
    assert extraction_score(gold, predicted, "subject")["micro_f1"] == 0.0
    assert extraction_score(gold, predicted, "quadruple")["recall"] == 0.0
    assert extraction_score(gold, predicted, "event_type")["micro_f1"] == 1.0
    assert extraction_score(gold, predicted, "object_scene")["macro_f1"] == 1.0


def test_event_order_and_ties_do_not_matter():
    gold = {"v": [A, B, A, C]}
    events = [A, A, A, B, q("car", "Traffic", "car", "Road")]
    reference = extraction_scores(gold, {"v": events})
    for permutation in itertools.permutations(events):
        assert extraction_scores(gold, {"v": list(permutation)}) == reference


def test_dict_events_and_output_types():
    gold = {"v": [{"subject": "man", "event_type": "Fighting", "object": "man", "scene": "Street", "start": 1}]}
    predicted = {"v": [{"subject": "man", "event_type": "Fighting", "object": "man", "scene": "Street"}]}
    scores = extraction_scores(gold, predicted)
    assert list(scores) == ["single", "pair", "quadruple"]
    assert [t for targets in scores.values() for t in targets] == list(EXTRACTION_TARGETS)
    for targets in scores.values():
        for values in targets.values():
            assert list(values) == ["macro_f1", "micro_f1", "precision", "recall", "support"]
            assert all(type(values[k]) is float and 0.0 <= values[k] <= 1.0 for k in list(values)[:4])
            assert type(values["support"]) is int
    assert EXTRACTION_TARGETS["subject_type"] == ("subject", "event_type")
    assert EXTRACTION_TARGETS["object_scene"] == ("object", "scene")


def test_errors():
    with pytest.raises(ValueError, match=r"1 predicted video\(s\) are not in `gold` \(4 videos\): 'v9'"):
        extraction_score(GOLD, {**PREDICTED, "v9": [A]})
    with pytest.raises(ValueError, match="'v9'"):
        per_video_extraction(GOLD, {"v9": []})
    with pytest.raises(ValueError, match="'v9'"):
        extraction_scores(GOLD, {"v9": []})
    with pytest.raises(ValueError, match="Unknown extraction target 'triple'; the 9 targets"):
        extraction_score(GOLD, PREDICTED, "triple")
    with pytest.raises(ValueError, match="`gold` must be a mapping"):
        extraction_score([A], {})
    with pytest.raises(ValueError, match="`subject` must be a string or null"):
        extraction_score({"v": [{"subject": 3}]}, {})


MISSING = "<missing>"


def _greedy_alignment(gold_labels, predicted_labels):
    """Reduction to classification: pair each gold label with the first unused equal prediction (else MISSING), then
    pair the unused predictions with MISSING gold labels."""
    used = [False] * len(predicted_labels)
    y_true, y_pred = [], []
    for label in gold_labels:
        for j, other in enumerate(predicted_labels):
            if not used[j] and other == label:
                used[j] = True
                y_true.append(label)
                y_pred.append(label)
                break
        else:
            y_true.append(label)
            y_pred.append(MISSING)
    for j, other in enumerate(predicted_labels):
        if not used[j]:
            y_true.append(MISSING)
            y_pred.append(other)
    return y_true, y_pred


@pytest.mark.parametrize("seed", range(60))
def test_agrees_with_sklearn_on_random_label_sets(seed):
    rng = random.Random(seed)
    names = ["a", "b", "c", "d", "e"][: rng.randint(1, 5)]

    def random_event():
        return q(*(rng.choice(names) for _ in range(2)), rng.choice(names), rng.choice(names))

    gold = {f"v{i}": [random_event() for _ in range(rng.randint(0, 5))] for i in range(rng.randint(1, 6))}
    predicted = {v: [random_event() for _ in range(rng.randint(0, 5))] for v in gold if rng.random() < 0.8}
    for target in ("subject", "event_type", "scene", "subject_type", "quadruple"):
        fields = EXTRACTION_TARGETS[target]
        y_true, y_pred = [], []
        for video_id, events in gold.items():
            t, p = _greedy_alignment(
                ["|".join(getattr(e, name) for name in fields) for e in events],
                ["|".join(getattr(e, name) for name in fields) for e in predicted.get(video_id, [])],
            )
            y_true += t
            y_pred += p
        labels = sorted(set(y_true + y_pred) - {MISSING})
        scores = extraction_score(gold, predicted, target)
        if not labels:
            assert scores["micro_f1"] == 1.0
            continue
        kwargs = {"labels": labels, "zero_division": 0}
        assert scores["precision"] == pytest.approx(precision_score(y_true, y_pred, average="micro", **kwargs))
        assert scores["recall"] == pytest.approx(recall_score(y_true, y_pred, average="micro", **kwargs))
        assert scores["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro", **kwargs))
        assert scores["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", **kwargs))
