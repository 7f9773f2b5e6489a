"""Training and held-out samples for the demo extractors, rendered by the synthetic M-VAE renderer.

Every sample is one frame of a synthetic video (`dataset_scripts.synthetic_plan.plan_video(seed, index)`) with its
exact ground truth, as the oracle features state it (`dataset_scripts.synthetic_oracle.oracle_features`): the boxes
and COCO-80 class ids of every visible actor, the 17 COCO keypoints of every person (visibility = inside the frame)
and the exact foreground mask (`render_frame(..., with_mask=True)`).
"""

import logging
from dataclasses import dataclass

import numpy as np


# COCO-80 class names in their contiguous order (the ids of RT-DETR's COCO checkpoints, and of the synthetic oracle's
# `OBJECT_LABELS`): the trained detector's `id2label`, so its label ids mean what a COCO RT-DETR's mean.
COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


@dataclass
class Sample:
    """One rendered frame and its ground truth.

    Attributes:
        frame (`np.ndarray` uint8 `(H, W, 3)`), mask (`np.ndarray` bool `(H, W)`: the drawn foreground),
        boxes (`np.ndarray` float32 `(n, 4)`: normalised `x1, y1, x2, y2`), labels (`np.ndarray` int64 `(n,)`: COCO-80
        ids), keypoints (`np.ndarray` float32 `(n, 17, 3)`: normalised x, y and visibility; zero for non-persons).
    """

    frame: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    keypoints: np.ndarray

    @property
    def persons(self) -> np.ndarray:
        """Indices of the person boxes."""
        return np.flatnonzero(self.labels == COCO_CLASSES.index("person"))


def frame_indices(num_frames: int, per_video: int, rng: np.random.Generator) -> np.ndarray:
    """`per_video` distinct frame indices of a video of `num_frames` frames, spread over it (one per equal slice)."""
    per_video = min(per_video, num_frames)
    edges = np.linspace(0, num_frames, per_video + 1)
    return np.array([int(rng.integers(int(a), max(int(a) + 1, int(b)))) for a, b in zip(edges[:-1], edges[1:])])


def render_sample(plan, index: int) -> Sample:
    """Frame `index` of `plan` with its ground truth (the oracle's boxes, labels and keypoints, the exact mask)."""
    from dataset_scripts.synthetic_oracle import PERSON_LABEL, oracle_features
    from dataset_scripts.synthetic_render import render_frame

    frame, mask, _ = render_frame(plan, int(index), with_mask=True)
    # the oracle's relation-capacity lines are about relations, which the extractors' training does not use
    logger = logging.getLogger("processing.extractor_base_sherlock")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        oracle = oracle_features(plan, [int(index)])
    finally:
        logger.setLevel(level)
    keep = oracle["object_mask"][0]
    labels = oracle["object_labels"][0][keep]
    keypoints = np.zeros((len(labels), 17, 3), np.float32)
    persons = np.flatnonzero(labels == PERSON_LABEL)[: oracle["pose_mask"].shape[1]]
    keypoints[persons] = oracle["pose_keypoints"][0][: len(persons)]
    return Sample(frame, mask, oracle["object_boxes"][0][keep].astype(np.float32), labels.astype(np.int64), keypoints)


def render_samples(seed: int, num_frames: int, per_video: int = 4, progress=None) -> list[Sample]:
    """`num_frames` samples from the synthetic videos of `seed` (`per_video` frames of each video, videos 0, 1, ...).

    Args:
        seed (`int`): the build seed (`plan_video(seed, index)`); held-out samples use another seed.
        num_frames (`int`): how many samples.
        per_video (`int`, *optional*, defaults to 4): frames taken from each video (spread over it).
        progress (callable, *optional*): called with the number of samples added.
    """
    from dataset_scripts.synthetic_plan import plan_video

    if num_frames < 1 or per_video < 1:
        raise ValueError(f"num_frames and per_video must be >= 1, got {num_frames}, {per_video}")
    rng = np.random.default_rng([seed, 0xF7A])
    samples: list[Sample] = []
    video = 0
    while len(samples) < num_frames:
        plan = plan_video(seed, video)
        for index in frame_indices(plan.num_frames, per_video, rng)[: num_frames - len(samples)]:
            samples.append(render_sample(plan, index))
            if progress is not None:
                progress(1)
        video += 1
    return samples


__all__ = ["COCO_CLASSES", "Sample", "frame_indices", "render_sample", "render_samples"]
