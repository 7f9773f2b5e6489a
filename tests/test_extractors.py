"""Expert extractors: detector -> poses / objects + relations / background, on tiny random models (no downloads).

Expected values are written by hand (relation triplets of hand-made boxes, crop pixels of a gradient frame, frame
points of planted heatmap peaks, resized pixels from PIL), never computed with the function under test.
"""

import ast
import importlib.util
import inspect
import logging
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from processing.extractors_sherlock import (
    CLIP_MEAN_FILL,
    DEFAULT_EXTRACTOR_SETTINGS,
    EXPERT_OUTPUT_KEYS,
    EXTRACTOR_BACKENDS,
    EXTRACTOR_PATH_SETTINGS,
    ExtractorSet,
    FrameDetections,
    GeometricRelationExtractor,
    HigherHRNetPoseExtractor,
    MetaSam2BackgroundExtractor,
    ObjectDetector,
    RTDetrObjectDetector,
    Sam2BackgroundExtractor,
    ViTPoseExtractor,
    blank_foreground,
    build_extractors,
    is_precomputed,
)
from processing.relations_sherlock import RELATION_PREDICATES, box_relations, predicate_id, rideable_label_ids
from sherlock.tiny_extractors import TINY_DETECTOR_LABELS, tiny_extractor_models, tiny_extractor_settings


PERSON, BICYCLE, CAR, CUP = range(4)
ID2LABEL = dict(enumerate(TINY_DETECTOR_LABELS))
HEIGHT, WIDTH = 72, 128
PROCESSING = Path(__file__).resolve().parents[1] / "processing"
HAS_MMPOSE = importlib.util.find_spec("mmpose") is not None
HAS_SAM2 = importlib.util.find_spec("sam2") is not None


@pytest.fixture(scope="module")
def paths():
    return tiny_extractor_models()


@pytest.fixture
def warnings_log(caplog):
    """The warnings the extractor modules log during the test (their loggers propagate to the root logger)."""
    caplog.set_level(logging.WARNING)

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("processing.extractor")]

    return messages


def make_frames(num_frames: int, seed: int = 0) -> np.ndarray:
    """Smooth random frames (a coloured gradient plus noise): uint8 (F, 72, 128, 3)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xs * 255 / WIDTH, ys * 255 / HEIGHT, (xs + ys) * 127 / (WIDTH + HEIGHT)], axis=-1)
    noise = rng.integers(-20, 20, (num_frames, HEIGHT, WIDTH, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


def linear_frame() -> np.ndarray:
    """A (72, 128, 3) frame whose channels are different linear functions of (x, y): R = 2x, G = 3y, B = 255 - x - y.

    Bilinear sampling reproduces a linear function exactly, so a crop's expected pixels can be written by hand, and a
    flip, transposition, wrong scale or channel swap changes them.
    """
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    return np.stack([2 * xs, 3 * ys, 255 - xs - ys], axis=-1).astype(np.uint8)


def detections(boxes, labels, scores=None, person_label_id=PERSON) -> FrameDetections:
    scores = np.linspace(0.9, 0.5, len(labels)) if scores is None else scores
    return FrameDetections(np.asarray(boxes, np.float32).reshape(-1, 4), labels, scores, person_label_id, ID2LABEL)


class StubDetector(ObjectDetector):
    """Returns fixed detections (one `FrameDetections` per frame, cycled) and counts its calls."""

    def __init__(self, per_frame: list[FrameDetections], person_label_id: int | None = PERSON):
        self.per_frame, self._person, self.calls = per_frame, person_label_id, 0

    @property
    def extractor_id(self) -> str:
        return "stub"

    @property
    def person_label_id(self):
        return self._person

    def detect(self, frames):
        self.calls += 1
        return [self.per_frame[i % len(self.per_frame)] for i in range(len(frames))]


class ForwardCounter:
    """Counts forward calls of a module (and their batch sizes) through a hook."""

    def __init__(self, module: torch.nn.Module):
        self.batch_sizes = []
        self.handle = module.register_forward_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs, output):
        pixel_values = kwargs.get("pixel_values", args[0] if args else None)
        self.batch_sizes.append(len(pixel_values))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def check_expert_outputs(out: dict, num_frames: int, max_persons: int, max_objects: int, max_relations: int):
    """Shapes, dtypes, padding and index validity shared by every end-to-end output."""
    assert set(out) == set(EXPERT_OUTPUT_KEYS)
    assert out["pose_keypoints"].shape == (num_frames, max_persons, 17, 3)
    assert out["pose_keypoints"].dtype == np.float32
    assert out["pose_mask"].shape == (num_frames, max_persons) and out["pose_mask"].dtype == np.bool_
    assert out["object_boxes"].shape == (num_frames, max_objects, 4) and out["object_boxes"].dtype == np.float32
    assert out["object_labels"].shape == (num_frames, max_objects) and out["object_labels"].dtype == np.int64
    assert out["object_mask"].shape == (num_frames, max_objects) and out["object_mask"].dtype == np.bool_
    assert out["relation_triplets"].shape == (num_frames, max_relations, 3)
    assert out["relation_triplets"].dtype == np.int64
    assert out["relation_mask"].shape == (num_frames, max_relations) and out["relation_mask"].dtype == np.bool_
    assert out["background_frames"].shape == (num_frames, HEIGHT, WIDTH, 3)
    assert out["background_frames"].dtype == np.uint8
    # padding is zero, masks are prefixes (valid entries first)
    for name, mask in (("pose", out["pose_mask"]), ("object", out["object_mask"]), ("relation", out["relation_mask"])):
        counts = mask.sum(-1)
        assert (mask == (np.arange(mask.shape[1]) < counts[:, None])).all(), name
    assert not out["pose_keypoints"][~out["pose_mask"]].any()
    assert not out["object_boxes"][~out["object_mask"]].any()
    assert not out["object_labels"][~out["object_mask"]].any()
    assert not out["relation_triplets"][~out["relation_mask"]].any()
    valid_keypoints = out["pose_keypoints"][out["pose_mask"]]
    assert np.isfinite(valid_keypoints).all()
    assert (valid_keypoints >= 0).all() and (valid_keypoints <= 1).all()
    boxes = out["object_boxes"][out["object_mask"]]
    assert (boxes >= 0).all() and (boxes <= 1).all() and (boxes[:, 2:] >= boxes[:, :2]).all()
    # relations point at unmasked objects, predicates inside the vocabulary
    for frame in range(num_frames):
        triplets = out["relation_triplets"][frame][out["relation_mask"][frame]]
        objects = int(out["object_mask"][frame].sum())
        assert ((triplets[:, [0, 2]] >= 0) & (triplets[:, [0, 2]] < objects)).all()
        assert (triplets[:, 0] != triplets[:, 2]).all()
        assert ((triplets[:, 1] >= 0) & (triplets[:, 1] < len(RELATION_PREDICATES))).all()


def assert_same_pose(actual: np.ndarray, expected: np.ndarray, pixels: float = 0.05, err_msg: str = ""):
    """Keypoints `(..., 17, 3)` equal to 0.05 frame pixels and scores to 1e-5.

    Not tighter: a different batch composition changes the heatmaps by ~1e-6 (BLAS kernels), which the DARK
    refinement can turn into ~0.01 px on noisy random heatmaps. A pose in the wrong slot, frame or crop is pixels off.
    """
    np.testing.assert_allclose(
        actual[..., :2] * [WIDTH, HEIGHT], expected[..., :2] * [WIDTH, HEIGHT], atol=pixels, err_msg=err_msg
    )
    np.testing.assert_allclose(actual[..., 2], expected[..., 2], atol=1e-5, err_msg=err_msg)


def named(triplets) -> list[tuple[int, str, int]]:
    return [(int(s), RELATION_PREDICATES[int(p)], int(o)) for s, p, o in triplets]


# ---------------------------------------------------------------------------------------------------------------------
# Relations: pure geometry
# ---------------------------------------------------------------------------------------------------------------------

RIDER, BIKE = (0.40, 0.20, 0.60, 0.70), (0.35, 0.50, 0.65, 0.80)
# A small cup in the rider's hand region (centre (0.565, 0.42)), 0.06 above the bicycle; a car far at the bottom left.
HELD_CUP, FAR_CAR = (0.55, 0.40, 0.58, 0.44), (0.00, 0.85, 0.10, 0.95)
# Worked out by hand from the rules of relations_sherlock.py, in priority order (rank, person pairs first, gap):
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


def test_frame_detections_sorts_clips_and_checks():
    det = FrameDetections([[0.5, 0.5, 1.2, 0.9], [-0.1, 0.0, 0.2, 0.3]], [2, 0], [0.3, 0.8])
    assert det.scores.tolist() == pytest.approx([0.8, 0.3])
    assert det.labels.tolist() == [0, 2] and det.labels.dtype == np.int64
    np.testing.assert_allclose(det.boxes, [[0.0, 0.0, 0.2, 0.3], [0.5, 0.5, 1.0, 0.9]])  # clipped to [0, 1]
    assert FrameDetections(np.zeros((0, 4)), [], []).boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="2, 1 and 2"):
        FrameDetections(np.zeros((2, 4)), [0], [0.1, 0.2])


# ---------------------------------------------------------------------------------------------------------------------
# RT-DETR
# ---------------------------------------------------------------------------------------------------------------------


def test_rt_detr_detections_and_batching(paths):
    frames = make_frames(5)
    many = RTDetrObjectDetector(paths["rt_detr"], threshold=0.0, batch_size=2)
    assert many.person_label_id == PERSON and many.id2label == ID2LABEL
    with ForwardCounter(many.model) as counter:
        results = many.detect(frames)
    assert counter.batch_sizes == [2, 2, 1]
    assert len(results) == 5
    num_queries = many.model.config.num_queries
    for det in results:
        assert len(det) == num_queries  # threshold 0: every (query, class) of the top-k
        assert det.boxes.dtype == np.float32 and det.labels.dtype == np.int64 and det.scores.dtype == np.float32
        assert (det.boxes >= 0).all() and (det.boxes <= 1).all() and (det.boxes[:, 2:] >= det.boxes[:, :2]).all()
        assert (np.diff(det.scores) <= 0).all()
        assert ((det.labels >= 0) & (det.labels < len(TINY_DETECTOR_LABELS))).all()
        assert det.person_label_id == PERSON
    none = RTDetrObjectDetector(paths["rt_detr"], threshold=1.01).detect(frames[:2])
    assert [len(det) for det in none] == [0, 0] and none[0].boxes.shape == (0, 4)
    assert RTDetrObjectDetector(paths["rt_detr"]).detect(frames[:0]) == []


# ---------------------------------------------------------------------------------------------------------------------
# End to end: 0 / many / different numbers of detections
# ---------------------------------------------------------------------------------------------------------------------


def test_extract_with_no_detections(paths):
    extractors = build_extractors(tiny_extractor_settings(paths, threshold=1.01))
    frames = make_frames(3)
    out = extractors.extract(frames)
    check_expert_outputs(out, 3, max_persons=4, max_objects=6, max_relations=8)
    assert not out["pose_mask"].any() and not out["object_mask"].any() and not out["relation_mask"].any()
    assert np.array_equal(out["background_frames"], frames)


def test_extract_runs_the_detector_once_and_feeds_every_part_its_detections(paths, warnings_log):
    extractors = build_extractors(tiny_extractor_settings(paths, threshold=0.0, max_persons=2))
    frames = make_frames(3, seed=1)
    reference = extractors.detector.detect(frames)
    calls = []
    detect = extractors.detector.detect
    extractors.detector.detect = lambda f: calls.append(len(f)) or detect(f)
    out = extractors.extract(frames)
    assert calls == [3]
    check_expert_outputs(out, 3, max_persons=2, max_objects=6, max_relations=8)
    for frame, det in enumerate(reference):
        persons = int((det.labels == PERSON).sum())
        assert out["pose_mask"][frame].sum() == min(persons, 2)
        assert out["object_mask"][frame].all()  # 10 detections, capacity 6: capped
        np.testing.assert_array_equal(out["object_labels"][frame], det.labels[:6])
        np.testing.assert_allclose(out["object_boxes"][frame], det.boxes[:6])
    # the parts saw exactly the detector's detections of these frames
    for part in (extractors.pose, extractors.objects):
        for key, value in part(frames, reference).items():
            np.testing.assert_array_equal(out[key], value, err_msg=key)
    np.testing.assert_array_equal(out["background_frames"], extractors.background(frames, reference))
    assert any("found 30 objects, kept 18" in message for message in warnings_log())


def test_frames_and_clips_with_different_numbers_of_persons_and_objects(paths, warnings_log):
    """Frame 0: 3 persons + 2 objects (capacities 2 persons, 4 objects); frame 1: one person; frame 2: nothing."""
    crowd = detections(
        [(0.05, 0.1, 0.25, 0.9), (0.30, 0.1, 0.50, 0.9), (0.55, 0.1, 0.75, 0.9), HELD_CUP, FAR_CAR],
        [PERSON, PERSON, PERSON, CUP, CAR],
        [0.7, 0.95, 0.8, 0.9, 0.6],  # by score: person 1, cup, person 2, person 0, car
    )
    alone = detections([(0.40, 0.20, 0.60, 0.95)], [PERSON])
    empty = detections([], [])
    vitpose = ViTPoseExtractor(paths["vitpose"], max_persons=2)
    extractors = ExtractorSet(
        detector=StubDetector([crowd, alone, empty]),
        pose=vitpose,
        objects=GeometricRelationExtractor(max_objects=4, max_relations=3),
        background=Sam2BackgroundExtractor(paths["sam2"]),
    )
    frames = make_frames(3, seed=4)
    out = extractors.extract(frames)
    check_expert_outputs(out, 3, max_persons=2, max_objects=4, max_relations=3)
    assert out["pose_mask"].tolist() == [[True, True], [True, False], [False, False]]
    assert out["object_mask"].tolist() == [[True] * 4, [True, False, False, False], [False] * 4]
    assert out["object_labels"][0].tolist() == [PERSON, CUP, PERSON, PERSON]  # the car (lowest score) dropped
    assert out["object_labels"][1].tolist() == [PERSON, 0, 0, 0]
    np.testing.assert_allclose(out["object_boxes"][1, 0], (0.40, 0.20, 0.60, 0.95))
    assert out["relation_mask"].tolist() == [[True] * 3, [False] * 3, [False] * 3]  # one object: no pair
    assert np.array_equal(out["background_frames"][2], frames[2])  # no detection: unchanged
    # a frame's persons are posed as if the frame were alone, whatever the other frames hold
    solo = vitpose(frames[1:2], [alone])["pose_keypoints"][0, 0]
    assert_same_pose(out["pose_keypoints"][1, 0], solo)
    messages = warnings_log()
    assert any("`max_persons`=2 exceeded in 1 of 3 frames: found 3 persons, kept 2" in m for m in messages), messages
    assert any("`max_objects`=4 exceeded in 1 of 3 frames: found 5 objects, kept 4" in m for m in messages), messages
    # two clips of different contents stack into one batch: same shapes, masks tell them apart
    other = ExtractorSet(detector=StubDetector([empty]), objects=GeometricRelationExtractor(4, 3))
    batch = {key: np.stack([out[key], other.extract(frames)[key]]) for key in ("object_mask", "relation_triplets")}
    assert batch["object_mask"].shape == (2, 3, 4) and batch["relation_triplets"].shape == (2, 3, 3, 3)
    assert batch["object_mask"].sum(axis=(1, 2)).tolist() == [5, 0]


def test_parts_set_to_none_are_not_produced(paths):
    settings = tiny_extractor_settings(paths, threshold=0.0)
    settings["background"] = None
    del settings["pose"]
    extractors = build_extractors(settings)
    assert extractors.pose is None and extractors.background is None
    assert set(extractors.extractor_ids()) == {"detector", "objects"}
    out = extractors.extract(make_frames(2))
    assert set(out) == {"object_boxes", "object_labels", "object_mask", "relation_triplets", "relation_mask"}
    assert build_extractors({}).extract(make_frames(1)) == {}


# ---------------------------------------------------------------------------------------------------------------------
# Poses (real tiny ViTPose, or a stand-in model with planted heatmaps, on stub detections)
# ---------------------------------------------------------------------------------------------------------------------

# A person box of aspect 3:4 (the crop's 48:64) in frame pixels: x 40..64, y 20..52, centre (52, 36). With ViTPose's
# 1.25 padding the crop covers x 37..67 (30 px) and y 16..56 (40 px), corners on pixel centres (unbiased warp).
PERSON_PX = (40, 20, 64, 52)
PERSON_BOX = (40 / WIDTH, 20 / HEIGHT, 64 / WIDTH, 52 / HEIGHT)
CROP_X0, CROP_Y0, CROP_W, CROP_H = 37.0, 16.0, 30.0, 40.0


class PlantedPoseModel:
    """Stands in for `VitPoseForPoseEstimation`: records the pixel values, returns `heatmaps` (17, 16, 12) per crop."""

    def __init__(self, config, heatmaps: np.ndarray):
        self.config, self.heatmaps, self.seen = config, torch.from_numpy(heatmaps), []
        self.dtype = torch.float32

    def __call__(self, pixel_values, **kwargs):
        self.seen.append(pixel_values.clone())
        return types.SimpleNamespace(heatmaps=self.heatmaps.expand(len(pixel_values), -1, -1, -1).clone())


def planted_extractor(path: str, heatmaps: np.ndarray) -> ViTPoseExtractor:
    extractor = ViTPoseExtractor(path, max_persons=2)
    extractor._model = PlantedPoseModel(extractor.model.config, heatmaps)
    return extractor


def test_pose_crop_is_the_padded_person_box_of_the_frame(paths):
    heatmaps = np.zeros((1, 17, 16, 12), np.float32)
    extractor = planted_extractor(paths["vitpose"], heatmaps)
    extractor(linear_frame()[None], [detections([PERSON_BOX], [PERSON])])
    (pixel_values,) = extractor.model.seen
    assert pixel_values.shape == (1, 3, 64, 48)
    # crop pixel (u, v) samples frame point (37 + u * 30 / 47, 16 + v * 40 / 63); the frame is linear in (x, y)
    v, u = np.mgrid[0:64, 0:48].astype(np.float64)
    x, y = CROP_X0 + u * CROP_W / 47, CROP_Y0 + v * CROP_H / 63
    expected = np.stack([2 * x, 3 * y, 255 - x - y])
    mean, std = np.array([0.485, 0.456, 0.406])[:, None, None], np.array([0.229, 0.224, 0.225])[:, None, None]
    expected = (expected / 255 - mean) / std
    np.testing.assert_allclose(pixel_values[0].numpy(), expected, atol=1.01 / 255 / 0.224)  # uint8 rounding


def test_pose_heatmap_peaks_map_to_hand_computed_frame_points(paths):
    # keypoint k peaks at heatmap cell (3 + k % 6, 3 + 4 (k // 6)) with value 0.2 + 0.04 k; keypoint 16 has no peak
    heatmaps = np.zeros((1, 17, 16, 12), np.float32)
    cells = [(3 + k % 6, 3 + 4 * (k // 6)) for k in range(16)]
    for k, (hx, hy) in enumerate(cells):
        heatmaps[0, k, hy, hx] = 0.2 + 0.04 * k
    extractor = planted_extractor(paths["vitpose"], heatmaps)
    out = extractor(make_frames(1), [detections([PERSON_BOX], [PERSON])])
    keypoints = out["pose_keypoints"][0, 0]
    for k, (hx, hy) in enumerate(cells):
        # heatmap cell i of 12 (16) maps to crop edge + i x 30 / 11 (40 / 15) pixels; DARK keeps a symmetric peak
        expected = ((CROP_X0 + hx * CROP_W / 11) / WIDTH, (CROP_Y0 + hy * CROP_H / 15) / HEIGHT, 0.2 + 0.04 * k)
        np.testing.assert_allclose(keypoints[k], expected, atol=1e-4, err_msg=f"keypoint {k}")
    assert keypoints[16].tolist() == [0.0, 0.0, 0.0]  # no positive heatmap value: no position, score 0
    assert out["pose_mask"].tolist() == [[True, False]]


def test_pose_matches_the_upstream_vitpose_pipeline_run_frame_by_frame(paths):
    """Our pooled, batched crops across frames == the model card's recipe (PIL image + COCO pixel boxes, one frame
    at a time) for every person of every frame."""
    from transformers import VitPoseImageProcessorPil

    frames = make_frames(2, seed=3)
    boxes = [
        [(0.1, 0.2, 0.4, 0.9), (0.0, 0.0, 0.3, 0.5), (0.55, 0.05, 0.95, 0.95)],
        [(0.3, 0.1, 0.6, 1.0)],
    ]
    dets = [detections(b, [PERSON] * len(b), np.linspace(0.9, 0.6, len(b))) for b in boxes]
    extractor = ViTPoseExtractor(paths["vitpose"], max_persons=3, batch_size=2)  # batches mix frames 0 and 1
    ours = extractor(frames, dets)
    assert ours["pose_mask"].tolist() == [[True, True, True], [True, False, False]]
    processor = VitPoseImageProcessorPil.from_pretrained(paths["vitpose"])
    for index, (frame, det) in enumerate(zip(frames, dets)):
        # the detections' boxes as COCO pixel boxes, in float64: a box moved by 1e-6 px (float32 arithmetic) can flip
        # the uint8 rounding of a crop pixel
        pixel_boxes = det.boxes.astype(np.float64)
        coco = [[[x1 * WIDTH, y1 * HEIGHT, (x2 - x1) * WIDTH, (y2 - y1) * HEIGHT] for x1, y1, x2, y2 in pixel_boxes]]
        inputs = processor(images=Image.fromarray(frame), boxes=coco, return_tensors="pt")
        with torch.inference_mode():
            outputs = extractor.model(**inputs)
        for slot, result in enumerate(processor.post_process_pose_estimation(outputs, boxes=coco)[0]):
            mine, scores = ours["pose_keypoints"][index, slot], result["scores"].numpy()
            valid = scores > 0  # the processor marks the argmax of a heatmap without a positive value invalid
            reference = result["keypoints"].numpy()[valid] / [WIDTH, HEIGHT]
            expected = np.concatenate([np.clip(reference, 0, 1), np.clip(scores[valid], 0, 1)[:, None]], axis=1)
            assert_same_pose(mine[valid], expected, err_msg=f"frame {index}, slot {slot}")
            assert not mine[~valid].any()  # no position, score 0
    assert (ours["pose_keypoints"][ours["pose_mask"]][..., 2] > 0).mean() > 0.5  # most keypoints were compared


def test_pose_capacity_order_and_batching(paths, warnings_log):
    boxes = [(0.05 + 0.18 * i, 0.1, 0.2 + 0.18 * i, 0.9) for i in range(5)]
    scores = [0.5, 0.9, 0.6, 0.8, 0.7]  # best first: boxes 1, 3, 4
    dets = [detections(boxes, [PERSON] * 5, scores) for _ in range(3)]
    extractor = ViTPoseExtractor(paths["vitpose"], max_persons=3, batch_size=4)
    with ForwardCounter(extractor.model) as counter:
        out = extractor(make_frames(3), dets)
    assert counter.batch_sizes == [4, 4, 1]  # 3 frames x 3 persons, 4 crops per pass
    assert out["pose_mask"].all()
    assert warnings_log() == [
        "ViTPoseExtractor: `max_persons`=3 exceeded in 3 of 3 frames: found 15 persons, kept 9 (the 3 best-scoring "
        "per frame), dropped 6 (frame 0: 5, frame 1: 5, frame 2: 5). Raise `max_persons` (and the model's matching "
        "capacity) to keep them."
    ]
    # slots hold the best persons in score order, each posed exactly as if it were alone (batching mixes nothing)
    for slot, index in enumerate([1, 3, 4]):
        alone = extractor(make_frames(1), [detections([boxes[index]], [PERSON])])["pose_keypoints"][0, 0]
        assert_same_pose(out["pose_keypoints"][0, slot], alone, err_msg=f"slot {slot}")
    # with min_score 0.75 only two persons qualify (and nothing is dropped: no new warning)
    assert ViTPoseExtractor(paths["vitpose"], max_persons=3, min_score=0.75)(make_frames(1), dets[:1])[
        "pose_mask"
    ].tolist() == [[True, True, False]]
    assert len(warnings_log()) == 1
    # a detector without a person class yields no persons
    no_person_class = [detections(boxes, [PERSON] * 5, scores, person_label_id=None)]
    assert not ViTPoseExtractor(paths["vitpose"])(make_frames(1), no_person_class)["pose_mask"].any()


def test_pose_without_scipy_names_the_missing_package(paths, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.ndimage", None)
    with pytest.raises(ImportError, match=r"ViTPoseExtractor .* needs `scipy.ndimage`.*pip install scipy"):
        ViTPoseExtractor(paths["vitpose"]).processor  # noqa: B018


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
        "to keep them."
    ]
    # a relation capacity of 3 keeps the first three by priority
    capped = GeometricRelationExtractor(max_objects=4, max_relations=3)(frames, dets)
    assert named(capped["relation_triplets"][0]) == SCENE_RELATIONS[:3]
    assert any("`max_relations`=3 exceeded in 1 of 2 frames: found 6 relations, kept 3" in m for m in warnings_log())
    # min_score 0.85 keeps the three best objects: the car and its relations are gone
    strict = GeometricRelationExtractor(max_objects=4, max_relations=8, min_score=0.85)(frames, dets)
    assert strict["object_mask"][0].tolist() == [True, True, True, False]
    assert named(strict["relation_triplets"][0][strict["relation_mask"][0]]) == SCENE_RELATIONS[:3]


# ---------------------------------------------------------------------------------------------------------------------
# Background (real tiny SAM2 on stub detections)
# ---------------------------------------------------------------------------------------------------------------------


def grown_box_mask(box, margin=0.1):
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[
        max(math.floor((y1 - dy) * HEIGHT), 0) : min(math.ceil((y2 + dy) * HEIGHT), HEIGHT),
        max(math.floor((x1 - dx) * WIDTH), 0) : min(math.ceil((x2 + dx) * WIDTH), WIDTH),
    ] = True
    return mask


def test_background_blanks_only_inside_the_prompt_boxes(paths):
    frames = make_frames(6, seed=2)
    person, car = (0.05, 0.1, 0.35, 0.9), (0.5, 0.4, 0.95, 0.8)
    with_boxes = detections([person, car], [PERSON, CAR])
    dets = [with_boxes] * 5 + [detections([], [])]
    extractor = Sam2BackgroundExtractor(paths["sam2"], batch_size=2)
    prompts = []
    hook = extractor.model.prompt_encoder.register_forward_hook(
        lambda module, args, kwargs, output: prompts.append(kwargs["input_boxes"].clone()), with_kwargs=True
    )
    with ForwardCounter(extractor.model) as counter:
        background = extractor(frames, dets)
    hook.remove()
    assert counter.batch_sizes == [2, 2, 1]  # the frame without detections does not run
    # box prompts in the model's input pixels (128 x 128), like Sam2Processor
    np.testing.assert_allclose(prompts[0][0].numpy(), np.array([person, car]) * 128, rtol=1e-6)
    assert background.shape == frames.shape and background.dtype == np.uint8
    assert np.array_equal(background[5], frames[5])
    changed = (background != frames).any(-1)
    allowed = grown_box_mask(person) | grown_box_mask(car)
    assert changed[:5].any()  # the random masks cover something
    assert not changed[:5][:, ~allowed].any()  # far from every box nothing changes
    assert (background[:5][changed[:5]] == CLIP_MEAN_FILL).all()
    # a threshold below every logit makes each mask its whole (grown) box
    everything = Sam2BackgroundExtractor(paths["sam2"], mask_threshold=-1e9)(frames[:1], dets[:1])
    assert np.array_equal(everything[0], np.where(allowed[..., None], np.array(CLIP_MEAN_FILL, np.uint8), frames[0]))


def test_background_preprocessing_matches_a_pil_resize_of_a_structured_frame(paths):
    extractor = Sam2BackgroundExtractor(paths["sam2"])
    assert extractor.preprocessing["size"] == (128, 128)
    frame = linear_frame()
    frame[10:30, 90:120] = (250, 10, 60)  # a rectangle off the diagonal: a flip or transposition moves it
    pixels = extractor.pixel_values(frame[None])
    assert pixels.shape == (1, 3, 128, 128)
    # reference: PIL's bilinear resize to 128 x 128 (what torchvision's uint8 resize matches), then rescale, normalise
    resized = np.asarray(Image.fromarray(frame).resize((128, 128), Image.BILINEAR), np.float64)
    expected = (resized / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(pixels[0].permute(1, 2, 0).numpy(), expected, atol=1.01 / 255 / 0.224)


def test_blank_foreground_is_the_union_of_masks_inside_their_boxes():
    frame = linear_frame()
    masks = np.ones((2, HEIGHT, WIDTH), bool)
    masks[1, :, :64] = False
    boxes = np.array([[0.0, 0.0, 0.25, 0.25], [0.25, 0.5, 1.0, 1.0]], np.float32)
    out = blank_foreground(frame, masks, boxes, box_margin=0.0, fill_value=(1, 2, 3))
    expected_mask = np.zeros((HEIGHT, WIDTH), bool)
    expected_mask[:18, :32] = True
    expected_mask[36:, 64:] = True
    assert np.array_equal((out == (1, 2, 3)).all(-1), expected_mask)
    assert np.array_equal(out[~expected_mask], frame[~expected_mask])


def test_background_max_boxes_keeps_the_best_prompts_and_warns(paths, warnings_log):
    boxes = [(0.0, 0.0, 0.2, 0.2), (0.5, 0.5, 0.7, 0.7), (0.8, 0.0, 1.0, 0.2)]
    dets = [detections(boxes, [CUP, CAR, CUP], [0.6, 0.9, 0.3])]
    extractor = Sam2BackgroundExtractor(paths["sam2"], max_boxes=2, mask_threshold=-1e9)
    out = extractor(make_frames(1), dets)
    blanked = (out[0] == CLIP_MEAN_FILL).all(-1)
    assert np.array_equal(blanked, grown_box_mask(boxes[0]) | grown_box_mask(boxes[1]))  # the 0.3 box is dropped
    assert any("`max_boxes`=2 exceeded in 1 of 1 frames: found 3 boxes, kept 2" in m for m in warnings_log())


# ---------------------------------------------------------------------------------------------------------------------
# Settings, ids, errors
# ---------------------------------------------------------------------------------------------------------------------


def test_default_settings_build_without_weights(paths):
    extractors = build_extractors(DEFAULT_EXTRACTOR_SETTINGS)
    ids = extractors.extractor_ids()
    assert set(ids) == {"detector", "pose", "objects", "background"}
    assert "PekingU/rtdetr_r50vd" in ids["detector"] and "facebook/sam2.1-hiera-tiny" in ids["background"]
    assert extractors.detector._model is None and extractors.pose._model is None  # nothing loaded yet
    assert extractors.background._model is None


@pytest.mark.parametrize(
    "part, changes, same",
    [
        ("detector", {"model": "other", "threshold": 0.3}, {"batch_size": 3, "device": "meta"}),
        (
            "pose",
            {"model": "other", "max_persons": 5, "min_score": 0.2, "dark_kernel": 5},
            {"batch_size": 3, "device": "meta"},
        ),
        (
            "objects",
            {"max_objects": 5, "max_relations": 9, "min_score": 0.2, "rideable_classes": ("horse",)},
            {},
        ),
        (
            "background",
            {
                "model": "other",
                "min_score": 0.2,
                "max_boxes": 3,
                "mask_threshold": 0.5,
                "box_margin": 0.2,
                "fill_value": (0, 0, 0),
            },
            {"batch_size": 3, "device": "meta"},
        ),
    ],
)
def test_extractor_ids_change_with_every_output_setting_and_only_with_those(paths, part, changes, same):
    def part_id(**overrides):
        settings = tiny_extractor_settings(paths)
        settings[part] = {**settings[part], **overrides}
        return build_extractors(settings).extractor_ids()[part]

    base = part_id()
    assert part_id() == base  # separately built from equal settings: equal keys
    for name, value in changes.items():
        assert part_id(**{name: value}) != base, f"{part}.{name} changes the outputs but not the cache key"
    ids = {part_id(**{name: value}) for name, value in changes.items()}
    assert len(ids) == len(changes)  # each setting changes the key differently
    for name, value in same.items():
        assert part_id(**{name: value}) == base, f"{part}.{name} does not change the outputs but changes the key"


def test_extractor_ids_change_when_weights_change_in_place(tmp_path):
    """Weights rewritten at the same path are new weights: the cache key must change (no stale features)."""
    from safetensors.torch import load_file, save_file

    from sherlock.tiny_extractors import build_tiny_extractor_models

    paths = build_tiny_extractor_models(str(tmp_path))
    before = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert build_extractors(tiny_extractor_settings(paths)).extractor_ids() == before
    weights = next(Path(paths["vitpose"]).glob("*.safetensors"))
    state = load_file(weights)
    save_file({name: value + 1 for name, value in state.items()}, weights, metadata={"format": "pt"})
    after = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert after["pose"] != before["pose"]
    assert {part: after[part] for part in after if part != "pose"} == {p: before[p] for p in before if p != "pose"}


def test_extractor_ids_do_not_depend_on_where_local_models_lie(tmp_path):
    """A saved folder that is moved or copied (its files keep their times) keeps its cache entries."""
    import shutil

    from sherlock.tiny_extractors import build_tiny_extractor_models

    paths = build_tiny_extractor_models(str(tmp_path / "here"))
    shutil.copytree(tmp_path / "here", tmp_path / "there")
    moved = {name: str(tmp_path / "there" / Path(path).name) for name, path in paths.items()}
    ids = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    assert build_extractors(tiny_extractor_settings(moved)).extractor_ids() == ids
    assert not any(str(tmp_path) in value for value in ids.values())


def test_settings_errors():
    with pytest.raises(ValueError, match=r"Unknown detector backend 'yolo'; known: \['rt_detr'\]"):
        build_extractors({"detector": {"backend": "yolo"}})
    with pytest.raises(ValueError, match="Unknown pose backend 'openpose'.*higherhrnet.*vitpose"):
        build_extractors({"detector": DEFAULT_EXTRACTOR_SETTINGS["detector"], "pose": {"backend": "openpose"}})
    with pytest.raises(ValueError, match="Unknown extractor parts"):
        build_extractors({"depth": {"backend": "x"}})
    with pytest.raises(ValueError, match=r"Unknown settings \['thresh'\]"):
        build_extractors({"detector": {"backend": "rt_detr", "thresh": 0.1}})
    with pytest.raises(ValueError, match="no `detector`"):
        ExtractorSet(objects=GeometricRelationExtractor())
    with pytest.raises(ValueError, match="uint8"):
        GeometricRelationExtractor()(np.zeros((1, 4, 4, 3), np.float32), [detections([], [])])
    with pytest.raises(ValueError, match="2 frames but 1"):
        GeometricRelationExtractor()(make_frames(1), [detections([], [])] * 2)
    with pytest.raises(ValueError, match="`max_persons` must be a positive integer, got 0"):
        ViTPoseExtractor(max_persons=0)


def test_every_model_location_setting_is_a_declared_path_setting():
    """A saved processor copies the settings named in `EXTRACTOR_PATH_SETTINGS`: every constructor argument that
    locates a model (a Hub id or a local file / folder) must be one of them, under its settings name."""
    locations = {"model_name_or_path", "config_path", "checkpoint"}
    for part, backends in EXTRACTOR_BACKENDS.items():
        for backend, (cls, renames) in backends.items():
            arguments = set(inspect.signature(cls.__init__).parameters) & locations
            settings_names = {next((k for k, v in renames.items() if v == a), a) for a in arguments}
            assert settings_names <= set(EXTRACTOR_PATH_SETTINGS), (part, backend, settings_names)
            assert arguments or backend == "geometric", (part, backend)  # every other backend loads a model
    assert set(EXTRACTOR_PATH_SETTINGS) == {"model", "config_path", "checkpoint"}


def test_precomputed_settings_are_recognised_and_build_nothing():
    assert is_precomputed({"backend": "precomputed"})
    assert not is_precomputed(DEFAULT_EXTRACTOR_SETTINGS) and not is_precomputed(None)
    with pytest.raises(ValueError, match="'precomputed' extractor settings build no extractor.*feature cache"):
        build_extractors({"backend": "precomputed"})


def test_stub_detector_contract_is_used_once_per_extract(paths):
    """`extract` calls the detector exactly once even with all three extractors on a one-person clip."""
    detector = StubDetector([detections([(0.3, 0.1, 0.55, 0.9), (0.6, 0.5, 0.7, 0.6)], [PERSON, CUP])])
    extractors = ExtractorSet(
        detector=detector,
        pose=ViTPoseExtractor(paths["vitpose"], max_persons=2),
        objects=GeometricRelationExtractor(max_objects=3, max_relations=2),
        background=Sam2BackgroundExtractor(paths["sam2"]),
    )
    out = extractors.extract(make_frames(2))
    assert detector.calls == 1
    check_expert_outputs(out, 2, max_persons=2, max_objects=3, max_relations=2)
    assert out["pose_mask"].tolist() == [[True, False]] * 2
    assert out["object_mask"].tolist() == [[True, True, False]] * 2
    assert extractors.extractor_ids()["detector"] == "stub"


# ---------------------------------------------------------------------------------------------------------------------
# The paper's backends: absent package (everywhere), glue on stand-in packages (everywhere), real packages (if any)
# ---------------------------------------------------------------------------------------------------------------------

HIGHERHRNET_SETTINGS = {"backend": "higherhrnet", "config_path": "a.py", "checkpoint": "b.pth"}
META_SAM2_SETTINGS = {"backend": "meta_sam2", "checkpoint": "t.pt", "model_cfg": "t.yaml"}


@pytest.mark.parametrize(
    "part, settings, hidden, message",
    [
        ("pose", HIGHERHRNET_SETTINGS, ("mmpose", "mmpose.apis"), r"HigherHRNetPoseExtractor needs `mmpose.apis`"),
        ("background", META_SAM2_SETTINGS, ("sam2", "sam2.build_sam"), r"MetaSam2BackgroundExtractor needs `sam2"),
    ],
)
def test_selecting_a_paper_backend_without_its_package_names_the_package(monkeypatch, part, settings, hidden, message):
    for module in hidden:  # hidden whether or not it is installed here
        monkeypatch.setitem(sys.modules, module, None)
    package = hidden[0]
    with pytest.raises(ImportError, match=rf"{message}.*not installed: pip install {package}.*torchvision"):
        build_extractors({"detector": DEFAULT_EXTRACTOR_SETTINGS["detector"], part: settings})


def fake_package(monkeypatch, **modules: types.ModuleType) -> None:
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def test_higherhrnet_glue_on_a_stand_in_mmpose(monkeypatch, warnings_log):
    calls = []

    class BottomupPoseEstimator:
        pass

    class TopdownPoseEstimator:
        pass

    def sample(keypoints, scores):
        return types.SimpleNamespace(pred_instances=types.SimpleNamespace(keypoints=keypoints, keypoint_scores=scores))

    def inference_bottomup(model, image):
        calls.append(("bottomup", image))
        # three persons, every keypoint of person i at pixel (10 i, 20 i) with score (0.2, 0.9, 0.5)[i]
        points = np.stack([np.full((17, 2), (10.0 * i, 20.0 * i)) for i in range(3)])
        return [sample(points, np.stack([np.full(17, s) for s in (0.2, 0.9, 0.5)]))]

    def inference_topdown(model, image, bboxes, bbox_format):
        calls.append(("topdown", image, np.array(bboxes), bbox_format))
        centres = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in bboxes]
        return [sample(np.full((1, 17, 2), c), np.full((1, 17), 0.7)) for c in centres]

    apis = types.ModuleType("mmpose.apis")
    apis.init_model = lambda config, checkpoint, device: (
        calls.append(("init", config, checkpoint, device))
        or (BottomupPoseEstimator() if "ae_" in config else TopdownPoseEstimator())
    )
    apis.inference_bottomup, apis.inference_topdown = inference_bottomup, inference_topdown
    fake_package(monkeypatch, mmpose=types.ModuleType("mmpose"), **{"mmpose.apis": apis})
    frames = make_frames(2)

    bottomup = HigherHRNetPoseExtractor("ae_hrnet.py", "w.pth", max_persons=2)
    out = bottomup(frames, [detections([], [])] * 2)
    assert calls[0] == ("init", "ae_hrnet.py", "w.pth", "cpu")
    assert np.array_equal(calls[1][1], frames[0][..., ::-1])  # mmpose reads BGR
    assert out["pose_mask"].tolist() == [[True, True]] * 2
    # ranked by mean score: person 1 (0.9) then person 2 (0.5); pixels normalised by the frame size
    np.testing.assert_allclose(out["pose_keypoints"][0, 0, 0], (10 / WIDTH, 20 / HEIGHT, 0.9), rtol=1e-6)
    np.testing.assert_allclose(out["pose_keypoints"][0, 1, 0], (20 / WIDTH, 40 / HEIGHT, 0.5), rtol=1e-6)
    assert any("`max_persons`=2 exceeded in 2 of 2 frames: found 6 persons, kept 4" in m for m in warnings_log())

    calls.clear()
    topdown = HigherHRNetPoseExtractor("td_hrnet.py", None, max_persons=2)
    out = topdown(frames, [detections([PERSON_BOX, FAR_CAR], [PERSON, CAR]), detections([], [])])
    assert [call[0] for call in calls] == ["init", "topdown"]  # the frame without persons is not run
    np.testing.assert_allclose(calls[1][2], [PERSON_PX], rtol=1e-5)  # xyxy pixel boxes of the persons only
    assert calls[1][3] == "xyxy"
    assert out["pose_mask"].tolist() == [[True, False], [False, False]]
    np.testing.assert_allclose(out["pose_keypoints"][0, 0, 5], (52 / WIDTH, 36 / HEIGHT, 0.7), rtol=1e-5)


def test_meta_sam2_glue_on_a_stand_in_sam2(monkeypatch):
    seen = {}

    class SAM2ImagePredictor:
        def __init__(self, model, mask_threshold):
            seen["init"] = (model, mask_threshold)

        def set_image_batch(self, images):
            seen["images"] = images

        def predict_batch(self, box_batch, multimask_output):
            seen["boxes"], seen["multimask_output"] = box_batch, multimask_output
            masks = []
            for boxes in box_batch:  # each mask is the left half of its box
                frame_masks = np.zeros((len(boxes), 1, HEIGHT, WIDTH), np.float32)
                for mask, (x1, y1, x2, y2) in zip(frame_masks, boxes.round().astype(int)):
                    mask[0, y1:y2, x1 : (x1 + x2) // 2] = 1.0
                masks.append(frame_masks[:, 0] if len(boxes) == 1 else frame_masks)  # sam2 squeezes one box
            return masks, None, None

    build_sam = types.ModuleType("sam2.build_sam")
    build_sam.build_sam2 = lambda cfg, checkpoint, device: ("model", cfg, checkpoint, device)
    predictor = types.ModuleType("sam2.sam2_image_predictor")
    predictor.SAM2ImagePredictor = SAM2ImagePredictor
    fake_package(
        monkeypatch,
        sam2=types.ModuleType("sam2"),
        **{"sam2.build_sam": build_sam, "sam2.sam2_image_predictor": predictor},
    )
    frames = make_frames(3)
    one, two = (0.25, 0.25, 0.5, 0.75), (0.5, 0.0, 1.0, 0.5)
    dets = [detections([one], [CUP]), detections([], []), detections([one, two], [CUP, CAR])]
    extractor = MetaSam2BackgroundExtractor(
        "w.pt", "cfg.yaml", mask_threshold=0.3, box_margin=0.0, fill_value=(9, 9, 9)
    )
    out = extractor(frames, dets)
    assert seen["init"] == (("model", "cfg.yaml", "w.pt", "cpu"), 0.3) and seen["multimask_output"] is False
    assert len(seen["images"]) == 2 and np.array_equal(seen["images"][1], frames[2])  # RGB, frames with boxes only
    np.testing.assert_allclose(seen["boxes"][1], [(32, 18, 64, 54), (64, 0, 128, 36)], rtol=1e-6)  # pixel xyxy
    expected = np.zeros((3, HEIGHT, WIDTH), bool)
    expected[0, 18:54, 32:48] = expected[2, 18:54, 32:48] = True
    expected[2, 0:36, 64:96] = True
    assert np.array_equal((out == 9).all(-1), expected)
    assert np.array_equal(out[1], frames[1])


@pytest.mark.skipif(not HAS_MMPOSE, reason="paper backend NOT RUN: mmpose (not installed)")
def test_higherhrnet_backend_runs_with_the_real_mmpose():
    import mmpose

    configs = Path(mmpose.__file__).parent / ".mim" / "configs" / "body_2d_keypoint"
    bottomup_config = configs / "associative_embedding" / "coco" / "ae_hrnet-w32_8xb24-300e_coco-512x512.py"
    topdown_config = configs / "topdown_heatmap" / "coco" / "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"
    frames = make_frames(1)
    for config, mode in ((bottomup_config, "bottomup"), (topdown_config, "topdown")):
        assert config.is_file(), f"mmpose ships no {config}"
        extractor = HigherHRNetPoseExtractor(str(config), None, max_persons=2, mode=mode)  # random weights
        out = extractor(frames, [detections([PERSON_BOX], [PERSON])])
        assert out["pose_keypoints"].shape == (1, 2, 17, 3) and out["pose_mask"].shape == (1, 2)
        assert np.isfinite(out["pose_keypoints"]).all()
        assert ((out["pose_keypoints"] >= 0) & (out["pose_keypoints"] <= 1)).all()
        if mode == "topdown":
            assert out["pose_mask"].tolist() == [[True, False]]


@pytest.mark.skipif(not HAS_SAM2, reason="paper backend NOT RUN: sam2 (not installed)")
def test_meta_sam2_backend_runs_with_the_real_sam2():
    frames = make_frames(1)
    box = (0.1, 0.2, 0.5, 0.9)
    extractor = MetaSam2BackgroundExtractor(None, "configs/sam2.1/sam2.1_hiera_t.yaml", mask_threshold=-1e9)
    out = extractor(frames, [detections([box], [PERSON])])  # random weights; every logit passes the threshold
    grown = grown_box_mask(box)
    assert np.array_equal(out[0], np.where(grown[..., None], np.array(CLIP_MEAN_FILL, np.uint8), frames[0]))


# ---------------------------------------------------------------------------------------------------------------------
# Remote code: flat modules, allowed imports, cheap to import, all copied next to a saved processor
# ---------------------------------------------------------------------------------------------------------------------

EXTRACTOR_MODULES = sorted(p.name for p in PROCESSING.glob("extractor*_sherlock.py")) + ["relations_sherlock.py"]


@pytest.mark.parametrize("name", EXTRACTOR_MODULES)
def test_extractor_modules_are_small_flat_remote_code_with_lazy_heavy_imports(name):
    from transformers.dynamic_module_utils import get_imports

    source = (PROCESSING / name).read_text()
    assert len(source.splitlines()) < 600
    allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "transformers"}
    # transformers' remote-code loader demands every package named by any import statement of the file
    assert set(get_imports(PROCESSING / name)) <= allowed
    tree = ast.parse(source)
    for node in tree.body:  # module level: no torch, no model classes, no scipy
        if isinstance(node, ast.Import):
            assert all(alias.name.split(".")[0] in set(sys.stdlib_module_names) | {"numpy"} for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                assert node.level == 1 and node.module and "." not in node.module, node.module
            else:
                assert node.module.split(".")[0] in set(sys.stdlib_module_names) | {"numpy"} or node.module in (
                    "transformers.utils",
                ), node.module
    assert isinstance(tree.body[-1], ast.Assign) and tree.body[-1].targets[0].id == "__all__"


def test_every_extractor_module_is_copied_with_the_remote_code_processor():
    from transformers.dynamic_module_utils import get_relative_import_files

    copied = {Path(path).name for path in get_relative_import_files(PROCESSING / "processing_sherlock.py")}
    assert set(EXTRACTOR_MODULES) | {"extractors_sherlock.py"} <= copied


# ---------------------------------------------------------------------------------------------------------------------
# Benchmark
# ---------------------------------------------------------------------------------------------------------------------


def test_benchmark_quick_run_reports_every_backend():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchmark_extractors

    results = benchmark_extractors.main(["--quick", "--frames", "2"])
    assert set(results["per_frame_ms"]) == {"detector", "pose", "relations", "background"}
    assert all(value > 0 for value in results["per_frame_ms"].values())
    assert results["counts"]["detections_per_frame"] == 10.0  # the tiny detector at threshold 0 keeps its 10 queries
    assert results["counts"]["relations_per_frame"] <= 32
