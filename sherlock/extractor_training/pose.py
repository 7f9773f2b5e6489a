"""The demo pose model: a small `VitPoseForPoseEstimation` (17 COCO keypoints, 64x48 crops, 32x24 heatmaps) trained
on rendered persons with the standard top-down heatmap loss, measured by PCK@0.1 through the processor's own
extractor (`ViTPoseExtractor`).

`VitPoseForPoseEstimation` raises `NotImplementedError` when given labels, so the loss is written here: the mean
squared error between the predicted heatmaps and Gaussian target heatmaps (sigma `HEATMAP_SIGMA` heatmap pixels)
centred on the true keypoints, each keypoint weighted by its visibility (inside the frame and the crop), as in
ViTPose / mmpose's `KeypointMSELoss(use_target_weight=True)`.
"""

import numpy as np
import torch

from .common import train_loop
from .data import Sample


POSE_SIZE = {"height": 64, "width": 48}
HEATMAP_SIGMA = 1.0


def build_pose(seed: int = 0):
    """A fresh small ViTPose (3-layer ViT of width 64, 8x8 patches, simple decoder) and its PIL image processor."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessorPil

    torch.manual_seed(seed)
    backbone = VitPoseBackboneConfig(
        image_size=[POSE_SIZE["height"], POSE_SIZE["width"]],
        patch_size=[8, 8],
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        mlp_ratio=2,
        out_indices=[3],
    )
    config = VitPoseConfig(backbone_config=backbone, use_simple_decoder=True, num_labels=17)
    return VitPoseForPoseEstimation(config), VitPoseImageProcessorPil(size=dict(POSE_SIZE))


def person_boxes(samples: list[Sample], jitter: float = 0.0, rng: np.random.Generator | None = None) -> list[tuple]:
    """`(sample index, COCO pixel box x, y, w, h, keypoints (17, 3) in pixels + visibility)` of every person, the box
    optionally jittered (centre shifted and size scaled by up to `jitter` of its size) like a detector's box."""
    rng = rng or np.random.default_rng(0)
    persons = []
    for index, sample in enumerate(samples):
        height, width = sample.frame.shape[:2]
        for person in sample.persons:
            x1, y1, x2, y2 = (sample.boxes[person] * [width, height, width, height]).astype(np.float64)
            w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
            if jitter:
                dx, dy, sw, sh = rng.uniform(-jitter, jitter, 4)
                x1, y1 = x1 + dx * w, y1 + dy * h
                w, h = w * (1 + sw), h * (1 + sh)
            points = sample.keypoints[person].astype(np.float64).copy()
            points[:, :2] *= [width, height]
            persons.append((index, [x1, y1, w, h], points))
    return persons


def heatmap_targets(processor, boxes, keypoints, heatmap_size: tuple, sigma: float = HEATMAP_SIGMA):
    """Gaussian target heatmaps `(n, 17, h, w)` and visibility weights `(n, 17)` of person crops.

    A keypoint at frame pixel `p` lies at heatmap pixel `(p - centre + S / 2) * (size - 1) / S` (`S` = the crop's
    extent in frame pixels: the inverse of the processor's unbiased `transform_preds`); keypoints outside the frame or
    the heatmap get weight 0.
    """
    from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale

    heat_h, heat_w = heatmap_size
    ys, xs = np.mgrid[0:heat_h, 0:heat_w]
    targets = np.zeros((len(boxes), 17, heat_h, heat_w), np.float32)
    weights = np.zeros((len(boxes), 17), np.float32)
    for n, (box, points) in enumerate(zip(boxes, keypoints)):
        centre, scale = box_to_center_and_scale(
            box, image_width=processor.size["width"], image_height=processor.size["height"]
        )
        extent = scale * 200.0
        hx = (points[:, 0] - centre[0] + extent[0] / 2) * (heat_w - 1) / extent[0]
        hy = (points[:, 1] - centre[1] + extent[1] / 2) * (heat_h - 1) / extent[1]
        inside = (hx >= -0.5) & (hx <= heat_w - 0.5) & (hy >= -0.5) & (hy <= heat_h - 0.5)
        weights[n] = points[:, 2] * inside
        for k in range(17):
            targets[n, k] = np.exp(-((xs - hx[k]) ** 2 + (ys - hy[k]) ** 2) / (2 * sigma**2))
    return torch.from_numpy(targets), torch.from_numpy(weights)


def heatmap_loss(predicted: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Visibility-weighted heatmap MSE: `mean over persons and keypoints of weight * mean-over-pixels (p - t)^2`
    (mmpose's `KeypointMSELoss` with `use_target_weight`)."""
    per_keypoint = ((predicted - target) ** 2).flatten(2).mean(-1)
    return (per_keypoint * weight).mean()


def pose_crops(model, processor, samples: list[Sample], copies: int = 2, jitter: float = 0.1, seed: int = 0):
    """The training set: `copies` jittered crops of every person (`pixel_values`) with their heatmap targets."""
    rng = np.random.default_rng([seed, 0x905E])
    heat_h = POSE_SIZE["height"] // model.config.backbone_config.patch_size[0] * model.config.scale_factor
    heat_w = POSE_SIZE["width"] // model.config.backbone_config.patch_size[1] * model.config.scale_factor
    pixels, targets, weights = [], [], []
    for copy in range(copies):
        persons = person_boxes(samples, jitter if copy else jitter / 2, rng)
        for start in range(0, len(persons), 64):
            chunk = persons[start : start + 64]
            grouped: dict[int, list] = {}
            for index, box, _ in chunk:
                grouped.setdefault(index, []).append(box)
            inputs = processor(images=[samples[i].frame for i in grouped], boxes=list(grouped.values()),
                               return_tensors="pt", input_data_format="channels_last", do_convert_rgb=False)  # fmt: skip
            order = [item for index in grouped for item in chunk if item[0] == index]
            target, weight = heatmap_targets(processor, [b for _, b, _ in order], [p for _, _, p in order],
                                             (heat_h, heat_w))  # fmt: skip
            pixels.append(inputs["pixel_values"])
            targets.append(target)
            weights.append(weight)
    return torch.cat(pixels), torch.cat(targets), torch.cat(weights)


def train_pose(model, processor, samples: list[Sample], steps: int, batch_size: int = 32, lr: float = 1e-3,
               **loop) -> dict:  # fmt: skip
    """Train the pose model on jittered crops of the samples' persons; `loop`: `train_loop` options."""
    pixels, targets, weights = pose_crops(model, processor, samples)

    def loss_fn(step):
        batch = torch.randint(len(pixels), (batch_size,))
        heatmaps = model(pixel_values=pixels[batch]).heatmaps
        return heatmap_loss(heatmaps, targets[batch], weights[batch]) * 1000.0  # the MSE of small maps is ~1e-3

    return train_loop(model, loss_fn, steps, lr, **loop)


def ground_truth_detections(sample: Sample):
    """The sample's true boxes as `FrameDetections` (scores descending in box order, so the order is kept)."""
    from processing.extractors_sherlock import FrameDetections

    from .data import COCO_CLASSES

    scores = 1.0 - 1e-3 * np.arange(len(sample.labels), dtype=np.float32)
    return FrameDetections(
        sample.boxes, sample.labels, scores, COCO_CLASSES.index("person"), dict(enumerate(COCO_CLASSES))
    )


# COCO-17 order (`ViTPoseExtractor`'s output)
KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip


def pck(samples: list[Sample], keypoints: np.ndarray, alpha: float = 0.1) -> float:
    """PCK@alpha: the share of visible true keypoints predicted within `alpha` x the larger side of the person's true
    box (frame pixels). `keypoints`: `(F, max_persons, 17, 3)` normalised, persons in the samples' box order."""
    hits, total = keypoint_hits(samples, keypoints, alpha)
    return int(hits.sum()) / max(int(total.sum()), 1)


def pck_per_keypoint(samples: list[Sample], keypoints: np.ndarray, alpha: float = 0.1) -> dict[str, float]:
    """PCK@alpha of each of the 17 keypoints (`KEYPOINT_NAMES`; `None` for one never visible)."""
    hits, total = keypoint_hits(samples, keypoints, alpha)
    return {name: (float(h / t) if t else None) for name, h, t in zip(KEYPOINT_NAMES, hits, total)}


def keypoint_hits(samples: list[Sample], keypoints: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """`(hits, visible)` per keypoint, `(17,)` each, as `pck` counts them."""
    hits, total = np.zeros(len(KEYPOINT_NAMES), np.int64), np.zeros(len(KEYPOINT_NAMES), np.int64)
    for sample, predicted in zip(samples, keypoints):
        height, width = sample.frame.shape[:2]
        for slot, person in enumerate(sample.persons[: predicted.shape[0]]):
            x1, y1, x2, y2 = sample.boxes[person] * [width, height, width, height]
            limit = alpha * max(x2 - x1, y2 - y1)
            truth = sample.keypoints[person]
            visible = truth[:, 2] > 0
            distance = np.hypot(*((predicted[slot, :, :2] - truth[:, :2]) * [width, height]).T)
            hits += visible & (distance <= limit)
            total += visible
    return hits, total


def evaluate_pose(folder: str, samples: list[Sample], dark_kernel: int = 11) -> dict:
    """PCK@0.1 of the pose model saved in `folder`, run through `ViTPoseExtractor` on the true person boxes."""
    from processing.extractors_sherlock import ViTPoseExtractor

    extractor = ViTPoseExtractor(folder, max_persons=8, batch_size=64, dark_kernel=dark_kernel)
    frames = np.stack([sample.frame for sample in samples])
    output = extractor(frames, [ground_truth_detections(sample) for sample in samples])
    keypoints = output["pose_keypoints"]
    return {
        "pck@0.1": pck(samples, keypoints),
        "pck@0.1_per_keypoint": pck_per_keypoint(samples, keypoints),
        "dark_kernel": dark_kernel,
    }


__all__ = [
    "HEATMAP_SIGMA",
    "KEYPOINT_NAMES",
    "POSE_SIZE",
    "build_pose",
    "evaluate_pose",
    "ground_truth_detections",
    "heatmap_loss",
    "heatmap_targets",
    "keypoint_hits",
    "pck",
    "pck_per_keypoint",
    "person_boxes",
    "pose_crops",
    "train_pose",
]
