"""Expert extractors: detector -> poses / objects + relations / background, on tiny random models (no downloads)."""

import importlib.util
import math

import numpy as np
import pytest
import torch

from processing.extractors_sherlock import (
    CLIP_MEAN_FILL,
    DEFAULT_EXTRACTOR_SETTINGS,
    EXPERT_OUTPUT_KEYS,
    ExtractorSet,
    FrameDetections,
    GeometricRelationExtractor,
    ObjectDetector,
    RTDetrObjectDetector,
    Sam2BackgroundExtractor,
    ViTPoseExtractor,
    blank_foreground,
    build_extractors,
)
from processing.relations_sherlock import RELATION_PREDICATES, box_relations, predicate_id, rideable_label_ids
from sherlock.tiny_extractors import TINY_DETECTOR_LABELS, tiny_extractor_models, tiny_extractor_settings


PERSON, BICYCLE, CAR, CUP = range(4)
ID2LABEL = dict(enumerate(TINY_DETECTOR_LABELS))
HEIGHT, WIDTH = 72, 128


@pytest.fixture(scope="module")
def paths():
    return tiny_extractor_models()


def make_frames(num_frames: int, seed: int = 0) -> np.ndarray:
    """Smooth random frames (a coloured gradient plus noise): uint8 (F, 72, 128, 3)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([xs * 255 / WIDTH, ys * 255 / HEIGHT, (xs + ys) * 127 / (WIDTH + HEIGHT)], axis=-1)
    noise = rng.integers(-20, 20, (num_frames, HEIGHT, WIDTH, 3))
    return np.clip(base[None] + noise, 0, 255).astype(np.uint8)


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


# ---------------------------------------------------------------------------------------------------------------------
# Relations: pure geometry
# ---------------------------------------------------------------------------------------------------------------------


def relation_names(boxes, labels, person=PERSON, rideable=(BICYCLE,)):
    return [
        (s, RELATION_PREDICATES[p], o)
        for s, p, o in box_relations(np.array(boxes), np.array(labels), person, rideable)
    ]


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


def test_rules_that_need_a_person_or_a_rideable_class():
    rider, bike = (0.40, 0.20, 0.60, 0.70), (0.35, 0.50, 0.65, 0.80)
    # without a person class, or when bicycles are not rideable, nobody rides
    assert relation_names([rider, bike], [PERSON, BICYCLE], person=None)[0][1] != "riding"
    assert relation_names([rider, bike], [PERSON, BICYCLE], rideable=())[0][1] != "riding"
    # a car is not holdable when it is as large as the person
    assert relation_names([(0.4, 0.2, 0.6, 0.8), (0.45, 0.4, 0.65, 0.75)], [PERSON, CAR])[0][1] != "holding"


def test_mid_distance_gives_no_relation_and_pairs_are_unique():
    # gap ~0.21 between boxes of diagonal ~0.14: beyond "near" (1 x size) and short of "far from" (2 x size)
    assert relation_names([(0.0, 0.0, 0.1, 0.1), (0.25, 0.25, 0.35, 0.35)], [CUP, CUP]) == []
    rng = np.random.default_rng(0)
    corners = rng.random((12, 2, 2))
    boxes = np.concatenate([corners.min(1), corners.max(1)], axis=1)
    labels = rng.integers(0, 4, 12)
    relations = box_relations(boxes, labels, PERSON, (BICYCLE,))
    pairs = [frozenset((s, o)) for s, _, o in relations]
    assert len(pairs) == len(set(pairs))  # each unordered pair at most once
    assert all(s != o for s, _, o in relations)
    assert relations == box_relations(boxes, labels, PERSON, (BICYCLE,))  # deterministic
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
    assert det.boxes.dtype == np.float32 and det.boxes.min() >= 0 and det.boxes.max() <= 1
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
# End to end: 0 / many detections through the real tiny models
# ---------------------------------------------------------------------------------------------------------------------


def test_extract_with_no_detections(paths):
    extractors = build_extractors(tiny_extractor_settings(paths, threshold=1.01))
    frames = make_frames(3)
    out = extractors.extract(frames)
    check_expert_outputs(out, 3, max_persons=4, max_objects=6, max_relations=8)
    assert not out["pose_mask"].any() and not out["object_mask"].any() and not out["relation_mask"].any()
    assert np.array_equal(out["background_frames"], frames)


def test_extract_with_many_detections_runs_the_detector_once(paths):
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
        expected = box_relations(det.boxes[:6], det.labels[:6], PERSON, rideable_label_ids(ID2LABEL))[:8]
        assert out["relation_mask"][frame].sum() == len(expected)
        assert out["relation_triplets"][frame][: len(expected)].tolist() == [list(t) for t in expected]


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
# Poses (real tiny ViTPose on stub detections)
# ---------------------------------------------------------------------------------------------------------------------


def crop_region(box):
    """The normalised region ViTPose sees for a normalised person box (1.25 padding, 48:64 aspect)."""
    from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale

    x1, y1, x2, y2 = np.asarray(box) * [WIDTH, HEIGHT, WIDTH, HEIGHT]
    center, scale = box_to_center_and_scale(np.array([x1, y1, x2 - x1, y2 - y1]), image_width=48, image_height=64)
    half = scale * 200 / 2
    return (center - half) / [WIDTH, HEIGHT], (center + half) / [WIDTH, HEIGHT]


def test_pose_one_person_lands_in_its_crop(paths):
    person, cup = (0.30, 0.10, 0.55, 0.90), (0.60, 0.50, 0.70, 0.60)
    frames = make_frames(2)
    dets = [detections([person, cup], [PERSON, CUP]), detections([cup], [CUP])]
    out = ViTPoseExtractor(paths["vitpose"], max_persons=3)(frames, dets)
    assert out["pose_mask"].tolist() == [[True, False, False], [False, False, False]]
    keypoints = out["pose_keypoints"][0, 0]
    assert np.isfinite(keypoints).all() and (keypoints >= 0).all() and (keypoints <= 1).all()
    low, high = crop_region(person)
    cell = (high - low) / [12, 16]  # one heatmap cell: DARK may move a peak by less than that
    assert (keypoints[:, :2] >= np.maximum(low - cell, 0)).all() and (keypoints[:, :2] <= high + cell).all()
    assert not out["pose_keypoints"][1].any()


def test_pose_capacity_order_and_batching(paths):
    boxes = [(0.05 + 0.18 * i, 0.1, 0.2 + 0.18 * i, 0.9) for i in range(5)]
    scores = [0.5, 0.9, 0.6, 0.8, 0.7]  # best first: boxes 1, 3, 4
    dets = [detections(boxes, [PERSON] * 5, scores) for _ in range(3)]
    extractor = ViTPoseExtractor(paths["vitpose"], max_persons=3, batch_size=4)
    with ForwardCounter(extractor.model) as counter:
        out = extractor(make_frames(3), dets)
    assert counter.batch_sizes == [4, 4, 1]  # 3 frames x 3 persons, 4 crops per pass
    assert out["pose_mask"].all()
    # slots hold the best persons in score order, each posed exactly as if it were alone (batching mixes nothing)
    for slot, index in enumerate([1, 3, 4]):
        alone = extractor(make_frames(1), [detections([boxes[index]], [PERSON])])["pose_keypoints"][0, 0]
        np.testing.assert_allclose(out["pose_keypoints"][0, slot], alone, atol=1e-5, err_msg=f"slot {slot}")
    # with min_score 0.75 only two persons qualify
    assert ViTPoseExtractor(paths["vitpose"], max_persons=3, min_score=0.75)(make_frames(1), dets[:1])[
        "pose_mask"
    ].tolist() == [[True, True, False]]
    # a detector without a person class yields no persons
    no_person_class = [detections(boxes, [PERSON] * 5, scores, person_label_id=None)]
    assert not ViTPoseExtractor(paths["vitpose"])(make_frames(1), no_person_class)["pose_mask"].any()


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="the upstream ViTPose processor needs scipy")
def test_pose_matches_the_upstream_vitpose_processor(paths):
    from transformers import VitPoseImageProcessorPil

    frames = make_frames(1, seed=3)
    boxes = np.array([[0.1, 0.2, 0.4, 0.9], [0.0, 0.0, 0.3, 0.5]], np.float32)
    extractor = ViTPoseExtractor(paths["vitpose"], max_persons=2)
    ours = extractor(frames, [detections(boxes, [PERSON, PERSON])])["pose_keypoints"][0]
    processor = VitPoseImageProcessorPil.from_pretrained(paths["vitpose"])
    coco = [[[x1 * WIDTH, y1 * HEIGHT, (x2 - x1) * WIDTH, (y2 - y1) * HEIGHT] for x1, y1, x2, y2 in boxes]]
    inputs = processor(images=list(frames), boxes=coco, return_tensors="pt")
    with torch.inference_mode():
        outputs = extractor.model(**inputs)
    results = processor.post_process_pose_estimation(outputs, boxes=coco)[0]
    for slot, result in enumerate(results):
        reference = result["keypoints"].numpy() / [WIDTH, HEIGHT]
        np.testing.assert_allclose(ours[slot, :, :2], np.clip(reference, 0, 1), atol=2e-3)
        np.testing.assert_allclose(ours[slot, :, 2], np.clip(result["scores"].numpy(), 0, 1), atol=2e-3)


# ---------------------------------------------------------------------------------------------------------------------
# Objects and relations extractor
# ---------------------------------------------------------------------------------------------------------------------


def test_geometric_extractor_capacities_and_indices():
    rider, bike = (0.40, 0.20, 0.60, 0.70), (0.35, 0.50, 0.65, 0.80)
    extra = [(0.02 * i, 0.0, 0.02 * i + 0.05, 0.05) for i in range(6)]
    boxes = [rider, bike, *extra]
    frame = detections(boxes, [PERSON, BICYCLE] + [CUP] * 6, np.linspace(0.99, 0.5, 8))
    extractor = GeometricRelationExtractor(max_objects=5, max_relations=3)
    out = extractor(make_frames(2), [frame, detections([], [])])
    assert out["object_mask"].tolist() == [[True] * 5, [False] * 5]
    np.testing.assert_array_equal(out["object_labels"][0], [PERSON, BICYCLE, CUP, CUP, CUP])
    assert out["relation_mask"].tolist() == [[True] * 3, [False] * 3]
    triplets = out["relation_triplets"][0]
    assert triplets[0].tolist() == [0, predicate_id("riding"), 1]  # the highest priority first
    assert (triplets[:, [0, 2]] < 5).all()
    expected = box_relations(np.array(boxes[:5]), np.array([0, 1, 3, 3, 3]), PERSON, (BICYCLE,))[:3]
    assert triplets.tolist() == [list(t) for t in expected]
    assert extractor.extractor_id != GeometricRelationExtractor(max_objects=5, max_relations=4).extractor_id


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


def test_background_preprocessing_and_blanking_helper(paths):
    extractor = Sam2BackgroundExtractor(paths["sam2"])
    assert extractor.preprocessing["size"] == (128, 128)
    frame = np.full((1, HEIGHT, WIDTH, 3), (200, 100, 50), np.uint8)
    pixels = extractor.pixel_values(frame)
    assert pixels.shape == (1, 3, 128, 128)
    expected = (np.array([200, 100, 50]) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(pixels[0, :, 64, 64].numpy(), expected, atol=1e-5)
    # blank_foreground: union of (mask AND grown box)
    masks = np.ones((2, HEIGHT, WIDTH), bool)
    masks[1, :, :64] = False
    boxes = np.array([[0.0, 0.0, 0.25, 0.25], [0.25, 0.5, 1.0, 1.0]], np.float32)
    out = blank_foreground(frame[0], masks, boxes, box_margin=0.0, fill_value=(1, 2, 3))
    blank = (out == (1, 2, 3)).all(-1)
    expected_mask = np.zeros((HEIGHT, WIDTH), bool)
    expected_mask[:18, :32] = True
    expected_mask[36:, 64:] = True
    assert np.array_equal(blank, expected_mask)


# ---------------------------------------------------------------------------------------------------------------------
# Settings, ids, errors
# ---------------------------------------------------------------------------------------------------------------------


def test_default_settings_build_without_weights_and_ids_track_settings(paths):
    extractors = build_extractors(DEFAULT_EXTRACTOR_SETTINGS)
    ids = extractors.extractor_ids()
    assert set(ids) == {"detector", "pose", "objects", "background"}
    assert "PekingU/rtdetr_r50vd" in ids["detector"] and "facebook/sam2.1-hiera-tiny" in ids["background"]
    assert extractors.detector._model is None and extractors.pose._model is None  # nothing loaded yet
    base = build_extractors(tiny_extractor_settings(paths)).extractor_ids()
    moved = tiny_extractor_settings(paths)
    moved["detector"]["model"] = paths["rt_detr"] + "-copy"
    assert build_extractors(moved).extractor_ids()["detector"] != base["detector"]
    assert (
        build_extractors(tiny_extractor_settings(paths, threshold=0.3)).extractor_ids()["detector"] != base["detector"]
    )
    assert build_extractors(tiny_extractor_settings(paths)).extractor_ids() == base  # stable


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


@pytest.mark.skipif(importlib.util.find_spec("mmpose") is not None, reason="mmpose is installed")
def test_paper_pose_backend_needs_mmpose():
    with pytest.raises(ImportError, match="pip install mmpose mmcv.*torchvision"):
        build_extractors(
            {
                "detector": DEFAULT_EXTRACTOR_SETTINGS["detector"],
                "pose": {"backend": "higherhrnet", "config_path": "a.py", "checkpoint": "b.pth"},
            }
        )


@pytest.mark.skipif(importlib.util.find_spec("sam2") is not None, reason="sam2 is installed")
def test_paper_background_backend_needs_sam2():
    with pytest.raises(ImportError, match="pip install sam2.*torchvision"):
        build_extractors(
            {
                "detector": DEFAULT_EXTRACTOR_SETTINGS["detector"],
                "background": {"backend": "meta_sam2", "checkpoint": "t.pt", "model_cfg": "t.yaml"},
            }
        )


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


def test_benchmark_quick_run_reports_every_backend():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import benchmark_extractors

    results = benchmark_extractors.main(["--quick", "--frames", "2"])
    assert set(results["per_frame_ms"]) == {"detector", "pose", "relations", "background"}
    assert all(value > 0 for value in results["per_frame_ms"].values())
    assert results["counts"]["detections_per_frame"] == 10.0  # the tiny detector at threshold 0 keeps its 10 queries
    assert results["counts"]["relations_per_frame"] <= 32
