"""The model-backed extractors one by one, on tiny random models (no downloads) and stub detections: RT-DETR
detections, ViTPose poses (the real tiny model, or a stand-in with planted heatmaps), the SAM2 background, and the
paper's backends (HigherHRNet, Meta SAM2) on stand-in packages, or on the real ones where they are installed.

Expected values are written by hand (crop pixels of a gradient frame, frame points of planted heatmap peaks, resized
pixels from PIL), never computed with the function under test.
"""

import math
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from processing.extractor_detector_sherlock import box_iou, class_nms
from processing.extractors_sherlock import (
    CLIP_MEAN_FILL,
    DEFAULT_EXTRACTOR_SETTINGS,
    HigherHRNetPoseExtractor,
    MetaSam2BackgroundExtractor,
    RTDetrObjectDetector,
    Sam2BackgroundExtractor,
    ViTPoseExtractor,
    blank_foreground,
    build_extractors,
)
from sherlock.tiny_extractors import TINY_DETECTOR_LABELS, tiny_extractor_models

from extractor_helpers import (
    CAR,
    CUP,
    FAR_CAR,
    HEIGHT,
    ID2LABEL,
    PERSON,
    WIDTH,
    assert_same_pose,
    detections,
    extractor_warnings,
    make_frames,
)


@pytest.fixture(scope="module")
def paths():
    return tiny_extractor_models()


@pytest.fixture
def warnings_log(caplog):
    """The warnings the extractor modules log during the test."""
    return extractor_warnings(caplog)


def linear_frame() -> np.ndarray:
    """A (72, 128, 3) frame whose channels are different linear functions of (x, y): R = 2x, G = 3y, B = 255 - x - y.

    Bilinear sampling reproduces a linear function exactly, so a crop's expected pixels can be written by hand, and a
    flip, transposition, wrong scale or channel swap changes them.
    """
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    return np.stack([2 * xs, 3 * ys, 255 - xs - ys], axis=-1).astype(np.uint8)


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


def test_class_nms_drops_same_class_overlaps_only():
    boxes = np.array(
        [
            [0.10, 0.10, 0.50, 0.50],  # 0: class 1, score 0.6
            [0.12, 0.10, 0.52, 0.50],  # 1: class 1, score 0.9, IoU 0.905 with 0: keeps 1, drops 0
            [0.12, 0.10, 0.52, 0.50],  # 2: class 2, same box as 1: another class, kept
            [0.60, 0.60, 0.90, 0.90],  # 3: class 1, no overlap: kept
            [0.10, 0.10, 0.30, 0.50],  # 4: class 1, IoU 0.5 with 0 and 0.43 with 1: kept at 0.5
        ]
    )
    labels, scores = np.array([1, 1, 2, 1, 1]), np.array([0.6, 0.9, 0.8, 0.7, 0.5])
    assert box_iou(boxes[:1], boxes[1:2])[0, 0] == pytest.approx(0.152 / 0.168)
    assert box_iou(boxes[4:5], boxes[:2]).round(4).tolist() == [[0.5, round(0.072 / 0.168, 4)]]
    assert class_nms(boxes, labels, scores, 0.5).tolist() == [1, 2, 3, 4]
    assert class_nms(boxes, labels, scores, 0.95).tolist() == [1, 2, 3, 0, 4]  # nothing overlaps that much
    assert class_nms(boxes, labels, scores, 0.35).tolist() == [1, 2, 3]  # 4 overlaps 1 by 0.43
    assert class_nms(np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), 0.5).tolist() == []
    # "above": an IoU equal to the bound is kept (exact in binary: 0.125 / 0.25)
    pair = np.array([[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.25]])
    assert box_iou(pair[:1], pair[1:])[0, 0] == 0.5
    assert class_nms(pair, [1, 1], [0.9, 0.8], 0.5).tolist() == [0, 1]
    assert class_nms(pair, [1, 1], [0.9, 0.8], 0.49).tolist() == [0]
    # compared with the kept boxes only: C overlaps the dropped B (0.6), not the kept A (1/3)
    chain = np.array([[0.0, 0.0, 0.5, 0.5], [0.125, 0.0, 0.625, 0.5], [0.25, 0.0, 0.75, 0.5]])
    assert class_nms(chain, [1, 1, 1], [0.9, 0.8, 0.7], 0.5).tolist() == [0, 2]


def test_rt_detr_nms_option(paths):
    frames = make_frames(3)
    plain = RTDetrObjectDetector(paths["rt_detr"], threshold=0.0)
    suppressed = RTDetrObjectDetector(paths["rt_detr"], threshold=0.0, nms_iou=0.3)
    assert "nms_iou" not in plain.extractor_id  # the ids of caches written before the option stay valid
    assert suppressed.extractor_id.endswith("threshold=0, nms_iou=0.3)")
    for before, after in zip(plain.detect(frames), suppressed.detect(frames)):
        kept = {(tuple(np.round(b, 6)), int(c)) for b, c in zip(after.boxes, after.labels)}
        assert kept <= {(tuple(np.round(b, 6)), int(c)) for b, c in zip(before.boxes, before.labels)}
        overlaps = box_iou(after.boxes, after.boxes)
        same = after.labels[:, None] == after.labels[None, :]
        assert not (same & (overlaps > 0.3) & ~np.eye(len(after), dtype=bool)).any()
        assert (np.diff(after.scores) <= 0).all() and after.boxes.dtype == np.float32
    # the random tiny model's overlapping boxes are one query under two classes, which per-class NMS keeps; so
    # `detect` is checked on planted post-processing output: two copies of a person, one far beyond the frame (IoU
    # 0.28 as given, 0.89 once clipped: only NMS on the clipped boxes drops it), another class on the same box,
    # another person apart
    planted = {
        "boxes": torch.tensor(
            [[0.1, 0.1, 0.5, 0.9], [0.1, 0.1, 0.5, 3.0], [0.1, 0.1, 0.5, 0.9], [0.6, 0.1, 0.9, 0.9]]
        ),
        "labels": torch.tensor([PERSON, PERSON, PERSON + 1, PERSON]),
        "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]),
    }
    suppressed.processor.post_process_object_detection = lambda outputs, threshold: [planted] * len(outputs.logits)
    (found,) = suppressed.detect(frames[:1])
    assert found.labels.tolist() == [PERSON, PERSON + 1, PERSON] and found.scores.tolist() == pytest.approx(
        [0.9, 0.7, 0.6]
    )
    with pytest.raises(ValueError, match="nms_iou"):
        RTDetrObjectDetector(paths["rt_detr"], nms_iou=1.5)


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
        "capacity) to keep them. Later clips over it are logged at INFO level only."
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
    recipe = r"not installed: build the paper-backends environment \(`make paper-backends-env`.*torchvision"
    with pytest.raises(ImportError, match=rf"{message}.*{recipe}"):
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


def test_higherhrnet_glue_on_a_stand_in_mmpose_0x(monkeypatch, tmp_path):
    """mmpose 0.x (where HigherHRNet lives): `init_pose_model` on the config shipped in the package (`mmpose::`) with
    the `cfg_options` merged, bottom-up results as dicts of (17, 3) keypoints, numpy's old aliases restored."""
    calls = []

    class AssociativeEmbedding:
        pass

    class Config(dict):
        @classmethod
        def fromfile(cls, path):
            calls.append(("fromfile", path))
            return cls(path=path)

        def merge_from_dict(self, options):
            self.update(options)

    package = types.ModuleType("mmpose")
    package.__file__ = str(tmp_path / "mmpose" / "__init__.py")
    apis = types.ModuleType("mmpose.apis")
    apis.init_pose_model = lambda config, checkpoint, device: (
        calls.append(("init", config, checkpoint)) or (AssociativeEmbedding())
    )
    person = np.concatenate([np.full((17, 2), (32.0, 18.0)), np.full((17, 1), 0.8)], axis=1)
    apis.inference_bottom_up_pose_model = lambda model, image: ([{"keypoints": person, "score": 0.8}], None)
    mmcv = types.ModuleType("mmcv")
    mmcv.Config = Config
    fake_package(monkeypatch, mmpose=package, mmcv=mmcv, **{"mmpose.apis": apis})
    for alias in ("int", "float", "bool"):  # numpy 2 has none of them; whatever the backend adds goes after the test
        monkeypatch.setitem(np.__dict__, alias, None)
        monkeypatch.delitem(np.__dict__, alias)
    extractor = HigherHRNetPoseExtractor("mmpose::configs/hr.py", None, cfg_options={"model.test_cfg.x": 0})
    assert np.int is int  # restored for mmpose 0.x, which still uses it
    out = extractor(make_frames(1), [detections([], [])])
    config_file = str(tmp_path / "mmpose" / ".mim" / "configs" / "hr.py")
    assert calls == [("fromfile", config_file), ("init", {"path": config_file, "model.test_cfg.x": 0}, None)]
    assert out["pose_mask"].tolist() == [[True] + [False] * 7]
    np.testing.assert_allclose(out["pose_keypoints"][0, 0, 0], (32 / WIDTH, 18 / HEIGHT, 0.8), rtol=1e-6)
    assert "cfg_options=[('model.test_cfg.x', 0)]" in extractor.extractor_id
