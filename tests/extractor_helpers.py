"""Shared by the tests/test_extractors*.py files: the tiny detector's label ids, frames, detections, a hand-made
scene, pose comparison and the warnings the extractors log."""

import logging

import numpy as np

from processing.extractors_sherlock import FrameDetections
from sherlock.tiny_extractors import TINY_DETECTOR_LABELS


PERSON, BICYCLE, CAR, CUP = range(4)
ID2LABEL = dict(enumerate(TINY_DETECTOR_LABELS))
HEIGHT, WIDTH = 72, 128
# A hand-made scene: a person riding a bicycle.
RIDER, BIKE = (0.40, 0.20, 0.60, 0.70), (0.35, 0.50, 0.65, 0.80)
# A small cup in the rider's hand region (centre (0.565, 0.42)), 0.06 above the bicycle; a car far at the bottom left.
HELD_CUP, FAR_CAR = (0.55, 0.40, 0.58, 0.44), (0.00, 0.85, 0.10, 0.95)


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


def assert_same_pose(actual: np.ndarray, expected: np.ndarray, pixels: float = 0.05, err_msg: str = ""):
    """Keypoints `(..., 17, 3)` equal to 0.05 frame pixels and scores to 1e-5.

    Not tighter: a different batch composition changes the heatmaps by ~1e-6 (BLAS kernels), which the DARK
    refinement can turn into ~0.01 px on noisy random heatmaps. A pose in the wrong slot, frame or crop is pixels off.
    """
    np.testing.assert_allclose(
        actual[..., :2] * [WIDTH, HEIGHT], expected[..., :2] * [WIDTH, HEIGHT], atol=pixels, err_msg=err_msg
    )
    np.testing.assert_allclose(actual[..., 2], expected[..., 2], atol=1e-5, err_msg=err_msg)


def extractor_warnings(caplog):
    """`messages()`: the warnings the extractor modules log during the test (their loggers propagate to the root
    logger); a `warnings_log` fixture returns it."""
    caplog.set_level(logging.WARNING)

    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("processing.extractor")]

    return messages
