"""The demo segmenter: a small `Sam2Model` (Hiera image encoder, prompt encoder, mask decoder) trained end to end on
rendered frames from box prompts, with BCE + dice against the renderer's exact masks, measured by mask IoU through the
processor's own extractor (`Sam2BackgroundExtractor`).

The target of a box prompt is what the background extractor keeps of its mask: the drawn foreground (all actors)
inside the box grown by `BOX_MARGIN` of its size per side (`blank_foreground` clips every mask to that region), so
the union over a frame's boxes is its exact foreground.
"""

import numpy as np
import torch
import torch.nn.functional as F

from .common import train_loop
from .data import Sample


# SAM 2's mask logits are a quarter of its input side: 512 gives 128x128 logits, finer than a 128x96 frame (256 gave
# 64x64, which bounds the IoU of 1-2 pixel limbs: the true masks, area-downsampled to 64x64 and upsampled, reach 0.80)
SEGMENTER_SIDE = 512
BOX_MARGIN = 0.1  # `Sam2BackgroundExtractor`'s default `box_margin`


def build_segmenter(seed: int = 0):
    """A fresh small SAM2 (`sherlock.tiny_extractors.tiny_sam2_config`, `SEGMENTER_SIDE` square input) whose mask
    decoder always returns its single-mask output (`dynamic_multimask_via_stability=False`).

    In eval mode with `multimask_output=False`, SAM 2's decoder by default swaps an unstable single mask for the best
    of its three multimask outputs, which box-prompted training (single mask, train mode) never trains: the trained
    model would then segment with untrained tokens."""
    from transformers import Sam2Model

    from ..tiny_extractors import tiny_sam2_config

    torch.manual_seed(seed)
    config = tiny_sam2_config(SEGMENTER_SIDE)
    config.mask_decoder_config.dynamic_multimask_via_stability = False
    return Sam2Model(config)


def box_mask_targets(sample: Sample, margin: float = BOX_MARGIN) -> np.ndarray:
    """Per box, the foreground inside the box grown by `margin` of its size per side: bool `(n, H, W)`."""
    from processing.extractor_background_sherlock import _box_regions

    height, width = sample.mask.shape
    targets = np.zeros((len(sample.boxes), height, width), bool)
    for n, (x1, y1, x2, y2) in enumerate(_box_regions(sample.boxes, height, width, margin)):
        targets[n, y1:y2, x1:x2] = sample.mask[y1:y2, x1:x2]
    return targets


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus dice loss of mask logits against bool targets (same shape, `(n, H, W)`)."""
    target = target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    probability = logits.sigmoid().flatten(1)
    flat = target.flatten(1)
    dice = 1 - (2 * (probability * flat).sum(1) + 1) / (probability.sum(1) + flat.sum(1) + 1)
    return bce + dice.mean()


def train_segmenter(model, samples: list[Sample], steps: int, batch_size: int = 4, lr: float = 1e-3, **loop) -> dict:
    """Train the whole SAM2 on the samples' box prompts (up to 8 boxes per frame, jittered a little like a detector's
    boxes); `loop`: `train_loop` options."""
    from processing.extractors_sherlock import Sam2BackgroundExtractor

    samples = [sample for sample in samples if len(sample.boxes)]
    preprocess = Sam2BackgroundExtractor.__new__(Sam2BackgroundExtractor)  # only its `pixel_values`, no model load
    preprocess._preprocessing = {"size": (SEGMENTER_SIDE,) * 2, "mean": (0.485, 0.456, 0.406),
                                 "std": (0.229, 0.224, 0.225), "rescale_factor": 1 / 255}  # fmt: skip
    frames = np.stack([sample.frame for sample in samples])  # preprocessed per batch (all at 512: 6 GB)
    targets = [torch.from_numpy(box_mask_targets(sample)) for sample in samples]
    height, width = samples[0].mask.shape

    def loss_fn(step):
        batch = torch.randint(len(samples), (batch_size,)).tolist()
        most = min(max(len(samples[i].boxes) for i in batch), 8)
        boxes, chosen = [], []
        for i in batch:
            keep = torch.randperm(len(samples[i].boxes))[:most]
            keep = torch.cat([keep, keep[:1].repeat(most - len(keep))])  # padded like the extractor: first box again
            box = torch.from_numpy(samples[i].boxes)[keep]
            size = (box[:, 2:] - box[:, :2]).repeat(1, 2)
            boxes.append((box + 0.05 * size * (2 * torch.rand_like(box) - 1)) * SEGMENTER_SIDE)
            chosen.append(keep)
        outputs = model(
            pixel_values=preprocess.pixel_values(frames[batch]), input_boxes=torch.stack(boxes), multimask_output=False
        )
        logits = F.interpolate(outputs.pred_masks[:, :, 0], size=(height, width), mode="bilinear", align_corners=False)
        target = torch.stack([targets[i][keep] for i, keep in zip(batch, chosen)])
        return segmentation_loss(logits.flatten(0, 1), target.flatten(0, 1))

    return train_loop(model, loss_fn, steps, lr, **loop)


def mask_iou(samples: list[Sample], backgrounds: np.ndarray, fill) -> float:
    """The mean over frames of the IoU between the blanked pixels (`== fill`) of `backgrounds` and the true foreground
    (the renderer's backgrounds never hold the fill colour, so the fill marks exactly what was blanked)."""
    values = []
    for sample, background in zip(samples, backgrounds):
        blanked = (background == np.asarray(fill, np.uint8)).all(-1)
        union = (blanked | sample.mask).sum()
        values.append((blanked & sample.mask).sum() / union if union else 1.0)
    return float(np.mean(values))


def evaluate_segmenter(
    folder: str, samples: list[Sample], detections=None, mask_threshold: float | None = None
) -> dict:
    """Mask IoU of the SAM2 saved in `folder`, run through `Sam2BackgroundExtractor` prompted by the true boxes (or by
    `detections`, one `FrameDetections` per sample): the blanked foreground against the exact one, per frame with
    any foreground; `mask_iou` at the extractor's default logit threshold 0, `mask_iou_shipped` at `mask_threshold`
    (defaults to `sherlock.tiny_extractors.TRAINED_MASK_THRESHOLD`, the one `trained_extractor_settings` uses)."""
    from processing.extractors_sherlock import Sam2BackgroundExtractor

    from ..tiny_extractors import TRAINED_MASK_THRESHOLD
    from .pose import ground_truth_detections

    samples = [sample for sample in samples if sample.mask.any()]
    detections = detections or [ground_truth_detections(sample) for sample in samples]
    frames = np.stack([sample.frame for sample in samples])
    threshold = TRAINED_MASK_THRESHOLD if mask_threshold is None else float(mask_threshold)
    metrics = {}
    for key, value in (("mask_iou", 0.0), ("mask_iou_shipped", threshold)):
        extractor = Sam2BackgroundExtractor(folder, batch_size=16, mask_threshold=value)
        metrics[key] = mask_iou(samples, extractor(frames, detections), extractor.fill_value)
    metrics["shipped_mask_threshold"] = threshold
    return metrics


__all__ = [
    "BOX_MARGIN",
    "SEGMENTER_SIDE",
    "box_mask_targets",
    "build_segmenter",
    "evaluate_segmenter",
    "mask_iou",
    "segmentation_loss",
    "train_segmenter",
]
