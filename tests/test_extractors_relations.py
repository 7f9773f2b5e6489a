"""The geometric relation rules (processing/relations_sherlock.py) and the objects + relations extractor
(`GeometricRelationExtractor`): pure geometry on hand-made boxes, no model.

The expected triplets are worked out by hand from the rules, never computed with the function under test.
"""

import logging

import numpy as np
import pytest

from processing.extractors_sherlock import FrameDetections, GeometricRelationExtractor
from processing.relations_sherlock import RELATION_PREDICATES, box_relations, predicate_id, rideable_label_ids

from extractor_helpers import (
    BICYCLE,
    BIKE,
    CAR,
    CUP,
    FAR_CAR,
    HELD_CUP,
    PERSON,
    RIDER,
    detections,
    extractor_warnings,
    make_frames,
)


@pytest.fixture
def warnings_log(caplog):
    """The warnings the extractor modules log during the test."""
    return extractor_warnings(caplog)


def named(triplets) -> list[tuple[int, str, int]]:
    return [(int(s), RELATION_PREDICATES[int(p)], int(o)) for s, p, o in triplets]


# ---------------------------------------------------------------------------------------------------------------------
# Relations: pure geometry
# ---------------------------------------------------------------------------------------------------------------------

# The relations of the scene RIDER, BIKE, HELD_CUP, FAR_CAR (extractor_helpers.py), worked out by hand from the rules
# of relations_sherlock.py, in priority order (rank, person pairs first, gap):
SCENE_RELATIONS = [
    (0, "holding", 2),  # rule 1: cup area 0.0012 <= 0.25 x 0.1, centre inside x [0.37, 0.63], y [0.375, 0.625]
    (0, "riding", 1),  # rule 2: overlap, x_overlap 0.2 >= 0.1, rider above, feet 0.70 in (0.575, 0.83]
    (1, "below", 2),  # rule 8: aligned (x_overlap 0.03), gap 0.06 <= 0.42; tie with "cup above bike": lower index
    (0, "near", 3),  # rule 10: gap sqrt(0.3^2 + 0.15^2) = 0.335 <= rider diagonal 0.539, not aligned; has a person
    (1, "near", 3),  # rule 10: gap sqrt(0.25^2 + 0.05^2) = 0.255 <= 0.424
    (2, "far from", 3),  # rule 11: gap sqrt(0.45^2 + 0.41^2) = 0.609 >= 2 x car diagonal 0.141
]


def relation_names(boxes, labels, person=PERSON, rideable=(BICYCLE,)):
    return named(box_relations(np.array(boxes), np.array(labels), person, rideable))


def test_predicate_vocabulary_fits_the_model():
    assert 0 < len(RELATION_PREDICATES) <= 16
    assert len(set(RELATION_PREDICATES)) == len(RELATION_PREDICATES)
    assert predicate_id("riding") == RELATION_PREDICATES.index("riding")
    with pytest.raises(ValueError, match="Unknown relation predicate"):
        predicate_id("flying")
    assert rideable_label_ids({0: "person", 1: "Bicycle", 5: "horse", 7: "car"}) == (1, 5)
    assert rideable_label_ids(None) == ()


@pytest.mark.parametrize(
    "subject_box, subject_label, object_box, object_label, expected",
    [
        # a person above and overlapping a bicycle
        ((0.40, 0.20, 0.60, 0.70), PERSON, (0.35, 0.50, 0.65, 0.80), BICYCLE, "riding"),
        # a small cup at the person's hands (lower-middle of the box)
        ((0.40, 0.20, 0.60, 0.80), PERSON, (0.55, 0.50, 0.62, 0.56), CUP, "holding"),
        # a person almost entirely within a car's box
        ((0.45, 0.45, 0.55, 0.60), PERSON, (0.30, 0.40, 0.80, 0.70), CAR, "inside"),
        # a cup standing on top of a car's box
        ((0.50, 0.30, 0.56, 0.42), CUP, (0.30, 0.40, 0.80, 0.70), CAR, "on"),
        # overlapping boxes: the one whose bottom is lower is in front
        ((0.30, 0.30, 0.60, 0.90), CAR, (0.40, 0.20, 0.70, 0.60), CAR, "in front of"),
        # side by side, a little apart
        ((0.10, 0.40, 0.20, 0.60), CAR, (0.30, 0.40, 0.40, 0.60), CUP, "left of"),
        # stacked vertically, apart
        ((0.40, 0.10, 0.50, 0.20), CUP, (0.40, 0.30, 0.50, 0.40), CAR, "above"),
        # two far boxes
        ((0.00, 0.00, 0.05, 0.05), CUP, (0.90, 0.90, 0.95, 0.95), CAR, "far from"),
    ],
)
def test_hand_built_geometries_give_the_expected_predicate(
    subject_box, subject_label, object_box, object_label, expected
):
    relations = relation_names([subject_box, object_box], [subject_label, object_label])
    assert relations == [(0, expected, 1)]
    # the same pair given in the other order keeps the same subject and predicate (for inverse predicates, the
    # higher-scoring box, now index 0, becomes the subject of the inverse predicate)
    swapped = relation_names([object_box, subject_box], [object_label, subject_label])
    inverse = {"in front of": "behind", "left of": "right of", "above": "below"}
    if expected in inverse:
        assert swapped == [(0, inverse[expected], 1)]
    elif expected == "far from":
        assert swapped == [(0, "far from", 1)]
    else:
        assert swapped == [(1, expected, 0)]


def test_hand_built_scene_gives_the_hand_written_triplets_in_priority_order():
    scene = [RIDER, BIKE, HELD_CUP, FAR_CAR]
    assert relation_names(scene, [PERSON, BICYCLE, CUP, CAR]) == SCENE_RELATIONS
    # without a person class the rider is a plain box: nobody holds or rides, the cup is inside the rider's box, the
    # rider behind the bicycle (overlapping, the bicycle's bottom 0.80 lower than 0.70), and the two "near" pairs are
    # ordered by gap alone (no pair involves a person any more)
    assert relation_names(scene, [PERSON, BICYCLE, CUP, CAR], person=None) == [
        (2, "inside", 0),
        (0, "behind", 1),
        (1, "below", 2),
        (1, "near", 3),
        (0, "near", 3),
        (2, "far from", 3),
    ]


def test_rules_that_need_a_person_or_a_rideable_class():
    # without a person class, or when bicycles are not rideable, the rider is only behind the bicycle (depth rule)
    assert relation_names([RIDER, BIKE], [PERSON, BICYCLE], person=None) == [(0, "behind", 1)]
    assert relation_names([RIDER, BIKE], [PERSON, BICYCLE], rideable=()) == [(0, "behind", 1)]
    # a car as large as half the person is not held: the boxes just overlap (bottoms 0.05 apart < 0.1 x 0.6)
    assert relation_names([(0.4, 0.2, 0.6, 0.8), (0.45, 0.4, 0.65, 0.75)], [PERSON, CAR]) == [(0, "overlapping", 1)]


def test_mid_distance_gives_no_relation_and_random_scenes_keep_the_invariants():
    # gap ~0.21 between boxes of diagonal ~0.14: beyond "near" (1 x size) and short of "far from" (2 x size)
    assert relation_names([(0.0, 0.0, 0.1, 0.1), (0.25, 0.25, 0.35, 0.35)], [CUP, CUP]) == []
    rng = np.random.default_rng(0)
    corners = rng.random((12, 2, 2))
    boxes = np.concatenate([corners.min(1), corners.max(1)], axis=1)
    labels = rng.integers(0, 4, 12)
    relations = box_relations(boxes, labels, PERSON, (BICYCLE,))
    assert relations  # 12 random boxes are related somehow
    pairs = [frozenset((s, o)) for s, _, o in relations]
    assert len(pairs) == len(set(pairs))  # each unordered pair at most once
    assert all(s != o for s, _, o in relations)
    # priority: the interaction predicates come before the spatial ones
    ranks = [RELATION_PREDICATES[p] for _, p, _ in relations]
    order = ["holding", "riding", "inside", "on"]
    positions = [i for i, name in enumerate(ranks) if name in order]
    assert positions == list(range(len(positions)))
    with pytest.raises(ValueError, match=r"\(n, 4\)"):
        box_relations(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="labels"):
        box_relations(np.zeros((3, 4)), np.zeros(2))


def test_a_capacity_exceeded_on_many_frames_and_clips_is_one_warning_line(caplog):
    """Issue 20: the condition is said once per extractor (with the counts of the first clip), not once per clip; the
    later clips are still logged, at INFO level, so nothing is dropped silently."""
    boxes = [(0.1 * i, 0.1 * i, 0.1 * i + 0.3, 0.1 * i + 0.3) for i in range(6)]  # overlapping: many relations
    scene = detections(boxes, [PERSON, CUP, CAR, CUP, CAR, CUP])
    extractor = GeometricRelationExtractor(max_objects=6, max_relations=2)
    caplog.set_level(logging.INFO, logger="processing.extractor_base_sherlock")
    for frames in (12, 5, 12):  # three clips, every frame over capacity
        out = extractor(make_frames(frames), [scene] * frames)
        assert out["relation_mask"].sum(axis=1).tolist() == [2] * frames
    records = [r for r in caplog.records if r.name.startswith("processing.extractor")]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and len(warnings[0].splitlines()) == 1, warnings
    assert "`max_relations`=2 exceeded in 12 of 12 frames" in warnings[0]
    later = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert [m.split(": found")[0] for m in later] == [
        "GeometricRelationExtractor: `max_relations`=2 exceeded in 5 of 5 frames",
        "GeometricRelationExtractor: `max_relations`=2 exceeded in 12 of 12 frames",
    ]
    # another extractor (another processor) says it again, once
    GeometricRelationExtractor(max_objects=6, max_relations=2)(make_frames(2), [scene] * 2)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


def test_frame_detections_sorts_clips_and_checks():
    det = FrameDetections([[0.5, 0.5, 1.2, 0.9], [-0.1, 0.0, 0.2, 0.3]], [2, 0], [0.3, 0.8])
    assert det.scores.tolist() == pytest.approx([0.8, 0.3])
    assert det.labels.tolist() == [0, 2] and det.labels.dtype == np.int64
    np.testing.assert_allclose(det.boxes, [[0.0, 0.0, 0.2, 0.3], [0.5, 0.5, 1.0, 0.9]])  # clipped to [0, 1]
    assert FrameDetections(np.zeros((0, 4)), [], []).boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="2, 1 and 2"):
        FrameDetections(np.zeros((2, 4)), [0], [0.1, 0.2])


# ---------------------------------------------------------------------------------------------------------------------
# Objects and relations extractor
# ---------------------------------------------------------------------------------------------------------------------


def test_geometric_extractor_hand_written_triplets_capacities_and_warnings(warnings_log):
    # the scene of SCENE_RELATIONS plus two low-scoring cups beyond `max_objects`=4 (they must not appear anywhere)
    extra = [(0.90, 0.00, 0.95, 0.05), (0.40, 0.45, 0.45, 0.50)]
    boxes = [RIDER, BIKE, HELD_CUP, FAR_CAR, *extra]
    scene = detections(boxes, [PERSON, BICYCLE, CUP, CAR, CUP, CUP], [0.99, 0.95, 0.9, 0.8, 0.3, 0.2])
    frames, dets = make_frames(2), [scene, detections([], [])]
    full = GeometricRelationExtractor(max_objects=4, max_relations=8)(frames, dets)
    assert full["object_mask"].tolist() == [[True] * 4, [False] * 4]
    assert full["object_labels"][0].tolist() == [PERSON, BICYCLE, CUP, CAR]
    np.testing.assert_allclose(full["object_boxes"][0], [RIDER, BIKE, HELD_CUP, FAR_CAR])
    assert full["relation_mask"].tolist() == [[True] * 6 + [False] * 2, [False] * 8]
    assert named(full["relation_triplets"][0][:6]) == SCENE_RELATIONS
    assert warnings_log() == [
        "GeometricRelationExtractor: `max_objects`=4 exceeded in 1 of 2 frames: found 6 objects, kept 4 (the 4 "
        "best-scoring per frame), dropped 2 (frame 0: 6). Raise `max_objects` (and the model's matching capacity) "
        "to keep them. Later clips over it are logged at INFO level only."
    ]
    # a relation capacity of 3 keeps the first three by priority
    capped = GeometricRelationExtractor(max_objects=4, max_relations=3)(frames, dets)
    assert named(capped["relation_triplets"][0]) == SCENE_RELATIONS[:3]
    assert any("`max_relations`=3 exceeded in 1 of 2 frames: found 6 relations, kept 3" in m for m in warnings_log())
    # min_score 0.85 keeps the three best objects: the car and its relations are gone
    strict = GeometricRelationExtractor(max_objects=4, max_relations=8, min_score=0.85)(frames, dets)
    assert strict["object_mask"][0].tolist() == [True, True, True, False]
    assert named(strict["relation_triplets"][0][strict["relation_mask"][0]]) == SCENE_RELATIONS[:3]
