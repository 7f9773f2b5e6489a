# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Expert extractors: sampled video frames -> the inputs of Sherlock's action, object-relation and background experts.

One object detector runs once per clip and its detections feed three extractors:

- `PoseExtractor` -> `pose_keypoints (F, max_persons, 17, 3)` (x, y normalised to [0, 1], score; COCO order) and
  `pose_mask (F, max_persons)`;
- `ObjectRelationExtractor` -> `object_boxes (F, max_objects, 4)`, `object_labels`, `object_mask`,
  `relation_triplets (F, max_relations, 3)`, `relation_mask`;
- `BackgroundExtractor` -> `background_frames (F, H, W, 3)` uint8: the frames with the foreground blanked.

Add a batch axis (`np.stack` over clips) and these are the model's inputs of the same names (`background_frames` goes
through the image processor to become `background_pixel_values`). Frames are always `np.ndarray` uint8
`(F, H, W, 3)` RGB; every output is numpy.

Defaults are transformers-native and run anywhere (no torchvision): RT-DETR (`RTDetrForObjectDetection` with the PIL
image processor), ViTPose (`VitPoseForPoseEstimation`) on RT-DETR's person boxes, geometric relation predicates
(`relations_sherlock.py`) and SAM2 (`Sam2Model`) prompted by the detected boxes. The paper's own tools are optional
backends behind lazy imports: `HigherHRNetPoseExtractor` (mmpose) and `MetaSam2BackgroundExtractor` (Meta's `sam2`);
both need torchvision, which cannot be installed next to the CPU build of torch used here.

Capacities, not truncation: `max_persons` / `max_objects` / `max_relations` are the fixed sizes of the padded outputs
(and of the model config). When a frame holds more, the highest-scoring persons / objects and the highest-priority
relations are kept and the number dropped is logged at debug level; the model never sees a silently cut tensor, it
sees a documented top-k.

Preprocessing without torchvision (transformers 5.23):
- RT-DETR: `RTDetrImageProcessorPil` is a PIL/numpy backend; `AutoImageProcessor` also resolves a saved RT-DETR
  processor to it when torchvision is absent. Used as is, with its `post_process_object_detection`.
- ViTPose: `VitPoseImageProcessorPil` needs no torchvision but needs **scipy** (`scipy.ndimage.affine_transform` for the
  person crops, `gaussian_filter` for the DARK refinement of the heatmaps), which is not a dependency of this project.
  `ViTPoseExtractor` therefore reads the processor's settings (size, mean, std, rescale factor, normalize factor) and
  reuses its numpy helpers (`box_to_center_and_scale`, `get_warp_matrix`, `get_keypoint_predictions`,
  `transform_preds`), but does the affine crop with `torch.nn.functional.grid_sample` (bilinear, zero padding: the
  same warp as cv2 / scipy order-1) and the DARK Gaussian blur with a torch convolution (scipy's `reflect` border).
- SAM2: `Sam2ImageProcessor` imports torchvision at module level (`torchvision.ops.boxes.batched_nms`), so it cannot
  even be imported. `Sam2BackgroundExtractor` reads `preprocessor_config.json` (size, mean, std, rescale factor) and
  reproduces the image path itself: bilinear antialiased resize of the whole frame to the model's square input (no
  aspect-preserving pad in SAM2), rescale, normalise; boxes scaled to that input like `Sam2Processor` does; low-res
  mask logits upsampled bilinearly to the frame and thresholded at 0 like `post_process_masks`.

This file ships to the Hub as remote code: at module level it imports only the standard library, numpy, torch,
transformers and single-dot siblings. Nothing is downloaded at import time, and models load lazily on first use.
"""

import importlib
import inspect
import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.utils import logging

from .relations_sherlock import RELATION_RULES_VERSION, RIDEABLE_CLASS_NAMES, box_relations, rideable_label_ids


logger = logging.get_logger(__name__)

NUM_COCO_KEYPOINTS = 17
# The fill colour of blanked foreground: CLIP's mean pixel (0.48145466, 0.4578275, 0.40821073) * 255, rounded. After the
# background tower's normalisation these pixels are ~0, i.e. they carry no signal (no edges, no colour) instead of a
# black or grey blob that a vision tower would read as a dark object.
CLIP_MEAN_FILL = (123, 117, 104)
IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)

EXPERT_OUTPUT_KEYS = (
    "pose_keypoints",
    "pose_mask",
    "object_boxes",
    "object_labels",
    "object_mask",
    "relation_triplets",
    "relation_mask",
    "background_frames",
)

_MMPOSE_HINT = (
    "pip install mmpose mmcv (see https://mmpose.readthedocs.io); note that mmpose / mmcv need torchvision, which this "
    "project cannot install next to its CPU build of torch: use the 'vitpose' pose backend instead"
)
_SAM2_HINT = (
    "pip install sam2 (https://github.com/facebookresearch/sam2); note that Meta's sam2 needs torchvision, which this "
    "project cannot install next to its CPU build of torch: use the transformers-native 'sam2' background backend"
)


# --------------------------------------------------------------------------------------------------------------------
# Data and checks
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class FrameDetections:
    """The detections of one frame, sorted by score (descending).

    Args:
        boxes (`np.ndarray` float32 of shape `(n, 4)`): `(x1, y1, x2, y2)` normalised to [0, 1] by the frame width /
            height (clipped to [0, 1]).
        labels (`np.ndarray` int64 of shape `(n,)`): the detector's class ids.
        scores (`np.ndarray` float32 of shape `(n,)`): detection scores.
        person_label_id (`int`, *optional*): the detector's person class (`None`: the detector has none, so no pose).
        id2label (`Mapping[int, str]`, *optional*): the detector's class names (the relation rules use them to find
            rideable classes); shared by all frames of a clip.

    The constructor converts dtypes, clips the boxes to [0, 1] and sorts by score, so a hand-built instance satisfies
    the same contract as the detector's.
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    person_label_id: int | None = None
    id2label: Mapping[int, str] | None = field(default=None, repr=False)

    def __post_init__(self):
        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"`boxes` must have shape (n, 4), got {boxes.shape}.")
        if not len(boxes) == len(labels) == len(scores):
            raise ValueError(
                f"FrameDetections needs as many boxes, labels and scores; got {len(boxes)}, {len(labels)} and "
                f"{len(scores)}."
            )
        order = np.argsort(-scores, kind="stable")
        self.boxes = np.clip(boxes[order], 0.0, 1.0)
        self.labels = labels[order]
        self.scores = scores[order]

    def __len__(self) -> int:
        return len(self.scores)

    def person_indices(self, min_score: float = 0.0) -> np.ndarray:
        """Indices of the person detections with `score >= min_score`, best first (empty without a person class)."""
        if self.person_label_id is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero((self.labels == self.person_label_id) & (self.scores >= min_score))


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"`frames` must be an (F, H, W, 3) RGB array, got shape {frames.shape}.")
    if frames.dtype != np.uint8:
        raise ValueError(f"`frames` must be uint8 (0-255), got {frames.dtype}.")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"`frames` must have a non-empty height and width, got shape {frames.shape}.")
    return frames


def _check_detections(detections: list[FrameDetections], num_frames: int) -> None:
    if len(detections) != num_frames:
        raise ValueError(f"Got detections for {len(detections)} frames but {num_frames} frames.")


def _batches(items: list, batch_size: int):
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def _check_positive(name: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def _require(module: str, hint: str, what: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{what} needs `{module}`, which is not installed: {hint}.") from error


# --------------------------------------------------------------------------------------------------------------------
# Interfaces
# --------------------------------------------------------------------------------------------------------------------


class ObjectDetector(ABC):
    """Detects objects (persons included) in every frame; its detections feed the three extractors."""

    @property
    @abstractmethod
    def extractor_id(self) -> str:
        """Stable string for cache keys: backend + model path / id + the settings that change the outputs."""

    @property
    @abstractmethod
    def person_label_id(self) -> int | None:
        """The class id of "person", or `None` when the detector has no person class."""

    @abstractmethod
    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        """One `FrameDetections` per frame of `frames` (uint8 `(F, H, W, 3)`)."""


class PoseExtractor(ABC):
    """Human poses of the detector's persons.

    `__call__(frames, detections)` returns `{"pose_keypoints": float32 (F, max_persons, 17, 3), "pose_mask": bool
    (F, max_persons)}`: per person the 17 COCO keypoints (nose, left/right eye, ear, shoulder, elbow, wrist, hip, knee,
    ankle) as `(x / width, y / height, score)`; persons are the detector's person boxes, highest score first, at most
    `max_persons` (a capacity: extra persons are dropped and counted at debug level). Padding rows are zero with mask
    `False`; a frame without persons has an all-`False` mask.
    """

    max_persons: int

    @property
    @abstractmethod
    def extractor_id(self) -> str:
        """Stable string for cache keys."""

    @abstractmethod
    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]: ...

    def _empty(self, num_frames: int) -> dict[str, np.ndarray]:
        return {
            "pose_keypoints": np.zeros((num_frames, self.max_persons, NUM_COCO_KEYPOINTS, 3), dtype=np.float32),
            "pose_mask": np.zeros((num_frames, self.max_persons), dtype=bool),
        }

    def _select_persons(self, detections: list[FrameDetections], min_score: float) -> list[np.ndarray]:
        """Per frame, the indices of the persons to pose (best first, at most `max_persons`)."""
        selected = []
        for index, frame_detections in enumerate(detections):
            persons = frame_detections.person_indices(min_score)
            if len(persons) > self.max_persons:
                logger.debug(
                    f"Frame {index}: {len(persons)} persons detected, keeping the {self.max_persons} best "
                    f"(`max_persons` capacity); {len(persons) - self.max_persons} dropped."
                )
            selected.append(persons[: self.max_persons])
        if detections and all(d.person_label_id is None for d in detections):
            logger.warning_once("The detector has no person class: the pose extractor returns no persons.")
        return selected


class ObjectRelationExtractor(ABC):
    """Objects and relation triplets per frame.

    `__call__(frames, detections)` returns `object_boxes` float32 `(F, max_objects, 4)` (normalised x1, y1, x2, y2),
    `object_labels` int64 `(F, max_objects)` (detector class ids), `object_mask` bool `(F, max_objects)`,
    `relation_triplets` int64 `(F, max_relations, 3)` (subject index, predicate id, object index; indices into the
    frame's objects, always pointing at unmasked objects) and `relation_mask` bool `(F, max_relations)`. Padding is zero
    with mask `False`.
    """

    max_objects: int
    max_relations: int

    @property
    @abstractmethod
    def extractor_id(self) -> str:
        """Stable string for cache keys."""

    @abstractmethod
    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]: ...


class BackgroundExtractor(ABC):
    """The frames with the foreground (every detected object and person) blanked.

    `__call__(frames, detections)` returns uint8 `(F, H, W, 3)`; frames without detections are returned unchanged.
    """

    @property
    @abstractmethod
    def extractor_id(self) -> str:
        """Stable string for cache keys."""

    @abstractmethod
    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> np.ndarray: ...


# --------------------------------------------------------------------------------------------------------------------
# RT-DETR detector
# --------------------------------------------------------------------------------------------------------------------


def _find_person_label(id2label: Mapping[int, str] | None, label2id: Mapping[str, int] | None) -> int | None:
    if label2id and "person" in label2id:
        return int(label2id["person"])
    for index, name in (id2label or {}).items():
        if str(name).lower() == "person":
            return int(index)
    return None


class RTDetrObjectDetector(ObjectDetector):
    """RT-DETR (`RTDetrForObjectDetection` + `RTDetrImageProcessorPil`), frames batched through the model.

    Args:
        model_name_or_path (`str`, *optional*, defaults to `"PekingU/rtdetr_r50vd"`): Hub id or local folder holding the
            model and its `preprocessor_config.json`.
        threshold (`float`, *optional*, defaults to 0.5): detections need `score > threshold` (the processor's
            `post_process_object_detection` rule; 1.0 or more keeps nothing, 0.0 keeps all `num_queries`).
        batch_size (`int`, *optional*, defaults to 8): frames per forward pass.
        device (`str`, *optional*, defaults to `"cpu"`): where the model runs.

    RT-DETR is NMS-free: the post-processing takes the top `num_queries` (query, class) scores, so one box may appear
    with two classes when both pass the threshold.
    """

    backend = "rt_detr"

    def __init__(
        self,
        model_name_or_path: str = "PekingU/rtdetr_r50vd",
        threshold: float = 0.5,
        batch_size: int = 8,
        device: str = "cpu",
    ):
        self.model_name_or_path = str(model_name_or_path)
        self.threshold = float(threshold)
        self.batch_size = _check_positive("batch_size", batch_size)
        self.device = device
        self._model = None
        self._processor = None
        self._config = None

    @property
    def extractor_id(self) -> str:
        return f"{self.backend}(model={self.model_name_or_path}, threshold={self.threshold:g})"

    @property
    def config(self):
        """The model config (loaded on first access, without the weights)."""
        if self._config is None:
            if self._model is not None:
                self._config = self._model.config
            else:
                from transformers import AutoConfig

                self._config = AutoConfig.from_pretrained(self.model_name_or_path)
        return self._config

    @property
    def id2label(self) -> dict[int, str]:
        return {int(k): v for k, v in (self.config.id2label or {}).items()}

    @property
    def person_label_id(self) -> int | None:
        return _find_person_label(self.id2label, self.config.label2id)

    @property
    def model(self):
        """The `RTDetrForObjectDetection` (loaded on first access)."""
        if self._model is None:
            from transformers import RTDetrForObjectDetection

            self._model = RTDetrForObjectDetection.from_pretrained(self.model_name_or_path).to(self.device).eval()
            self._config = self._model.config
        return self._model

    @property
    def processor(self):
        """The `RTDetrImageProcessorPil` (loaded on first access)."""
        if self._processor is None:
            from transformers import RTDetrImageProcessorPil

            self._processor = RTDetrImageProcessorPil.from_pretrained(self.model_name_or_path)
        return self._processor

    def detect(self, frames: np.ndarray) -> list[FrameDetections]:
        frames = _check_frames(frames)
        if len(frames) == 0:
            return []
        model, processor = self.model, self.processor
        person, id2label = self.person_label_id, self.id2label
        detections = []
        for batch in _batches(list(frames), self.batch_size):
            inputs = processor(images=batch, return_tensors="pt", input_data_format="channels_last")
            pixel_values = inputs["pixel_values"].to(self.device, dtype=model.dtype)
            with torch.inference_mode():
                outputs = model(pixel_values=pixel_values)
                # Without `target_sizes` the boxes stay relative (x1, y1, x2, y2 in [0, 1] of the frame).
                results = processor.post_process_object_detection(outputs, threshold=self.threshold)
            for result in results:
                detections.append(
                    FrameDetections(
                        boxes=result["boxes"].float().cpu().numpy(),
                        labels=result["labels"].cpu().numpy(),
                        scores=result["scores"].float().cpu().numpy(),
                        person_label_id=person,
                        id2label=id2label,
                    )
                )
        return detections


# --------------------------------------------------------------------------------------------------------------------
# ViTPose
# --------------------------------------------------------------------------------------------------------------------


def _scipy_gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _reflect_index(size: int, radius: int) -> torch.Tensor:
    """Indices that pad an axis by `radius` with scipy's `reflect` mode (d c b a | a b c d | d c b a)."""
    index = torch.arange(-radius, size + radius)
    period = 2 * size
    index = torch.remainder(index, period)
    return torch.where(index >= size, period - 1 - index, index)


def gaussian_blur_heatmaps(heatmaps: np.ndarray, sigma: float = 0.8, radius: int = 5) -> np.ndarray:
    """`scipy.ndimage.gaussian_filter(h, sigma, radius=(radius, radius), axes=(0, 1))` for each heatmap, in torch.

    A separable normalised Gaussian of `2 * radius + 1` taps with scipy's default `reflect` border (half-sample
    symmetric), applied to `(N, K, H, W)` heatmaps; float64 like scipy.
    """
    maps = torch.from_numpy(np.ascontiguousarray(heatmaps, dtype=np.float64))
    n, k, height, width = maps.shape
    kernel = _scipy_gaussian_kernel(sigma, radius)
    maps = maps.reshape(n * k, 1, height, width)
    maps = maps[:, :, _reflect_index(height, radius)][:, :, :, _reflect_index(width, radius)]
    maps = F.conv2d(maps, kernel.view(1, 1, -1, 1))
    maps = F.conv2d(maps, kernel.view(1, 1, 1, -1))
    return maps.reshape(n, k, height, width).numpy()


def dark_refine(coords: np.ndarray, heatmaps: np.ndarray, kernel: int = 11) -> np.ndarray:
    """DARK sub-pixel refinement of argmax keypoints (Zhang et al., CVPR 2020) without scipy.

    Adapted from `transformers.models.vitpose.image_processing_pil_vitpose.post_dark_unbiased_data_processing`, with
    its `scipy.ndimage.gaussian_filter` replaced by `gaussian_blur_heatmaps` (same kernel and border).

    Args:
        coords (`np.ndarray` of shape `(N, K, 2)`): argmax coordinates on the heatmaps.
        heatmaps (`np.ndarray` of shape `(N, K, H, W)`).
        kernel (`int`, *optional*, defaults to 11): Gaussian kernel size (radius `(kernel - 1) // 2`, sigma 0.8).
    """
    coords = np.array(coords)
    batch_size, num_keypoints, height, width = heatmaps.shape
    num_coords = coords.shape[0]
    # scipy keeps the heatmaps' dtype (float32 from the model): so do we, for the same rounding as upstream.
    blurred = gaussian_blur_heatmaps(heatmaps, sigma=0.8, radius=int((kernel - 1) // 2)).astype(heatmaps.dtype)
    blurred = np.log(np.clip(blurred, 0.001, 50))
    padded = np.pad(blurred, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge").flatten()
    index = coords[..., 0] + 1 + (coords[..., 1] + 1) * (width + 2)
    index += (width + 2) * (height + 2) * np.arange(0, batch_size * num_keypoints).reshape(-1, num_keypoints)
    index = index.astype(int).reshape(-1, 1)
    i_ = padded[index]
    ix1, iy1, ix1y1 = padded[index + 1], padded[index + width + 2], padded[index + width + 3]
    ix1_y1_, ix1_, iy1_ = padded[index - width - 3], padded[index - 1], padded[index - 2 - width]
    dx, dy = 0.5 * (ix1 - ix1_), 0.5 * (iy1 - iy1_)
    derivative = np.concatenate([dx, dy], axis=1).reshape(num_coords, num_keypoints, 2, 1)
    dxx = ix1 - 2 * i_ + ix1_
    dyy = iy1 - 2 * i_ + iy1_
    dxy = 0.5 * (ix1y1 - ix1 - iy1 + i_ + i_ - ix1_ - iy1_ + ix1_y1_)
    hessian = np.concatenate([dxx, dxy, dxy, dyy], axis=1).reshape(num_coords, num_keypoints, 2, 2)
    hessian = np.linalg.inv(hessian + np.finfo(np.float32).eps * np.eye(2))
    coords -= np.einsum("ijmn,ijnk->ijmk", hessian, derivative).squeeze(-1)
    return coords


def affine_crops(frame: torch.Tensor, matrices: np.ndarray, out_height: int, out_width: int) -> torch.Tensor:
    """Affine crops of one frame (bilinear; 0 where the source point is outside the frame), one per 2x3 `matrices[i]` (source -> crop).

    Args:
        frame (`torch.Tensor` float of shape `(3, H, W)`).
        matrices (`np.ndarray` of shape `(n, 2, 3)`): forward affine maps from frame pixels to crop pixels (pixel
            centres at integer coordinates, as `get_warp_matrix` returns them).

    Returns:
        `torch.Tensor` of shape `(n, 3, out_height, out_width)`.
    """
    n = len(matrices)
    height, width = frame.shape[-2:]
    full = np.concatenate([matrices, np.tile([[[0.0, 0.0, 1.0]]], (n, 1, 1))], axis=1)
    inverse = torch.from_numpy(np.linalg.inv(full)[:, :2]).to(torch.float64)  # crop pixel -> frame pixel
    v, u = torch.meshgrid(
        torch.arange(out_height, dtype=torch.float64), torch.arange(out_width, dtype=torch.float64), indexing="ij"
    )
    crop_pixels = torch.stack([u, v, torch.ones_like(u)], dim=-1).reshape(-1, 3)  # (P, 3)
    source = torch.einsum("nij,pj->npi", inverse, crop_pixels)  # (n, P, 2) in frame pixels (x, y)
    grid = torch.empty_like(source)
    grid[..., 0] = 2 * source[..., 0] / max(width - 1, 1) - 1
    grid[..., 1] = 2 * source[..., 1] / max(height - 1, 1) - 1
    # scipy's `constant` mode (what VitPoseImageProcessorPil uses): a sample whose source point lies outside the frame
    # is 0, one inside is plain bilinear (never blended with the zero border).
    inside = (
        (source[..., 0] >= 0) & (source[..., 0] <= width - 1) & (source[..., 1] >= 0) & (source[..., 1] <= height - 1)
    )
    grid = grid.reshape(n, out_height, out_width, 2).to(frame.dtype)
    crops = F.grid_sample(
        frame.unsqueeze(0).expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="border", align_corners=True
    )
    return crops * inside.reshape(n, 1, out_height, out_width).to(crops.dtype)


class ViTPoseExtractor(PoseExtractor):
    """Top-down ViTPose (`VitPoseForPoseEstimation`) on the detector's person boxes.

    Args:
        model_name_or_path (`str`, *optional*, defaults to `"usyd-community/vitpose-base-simple"`): Hub id or local
            folder with the model and its `preprocessor_config.json` (`VitPoseImageProcessor` settings).
        max_persons (`int`, *optional*, defaults to 8): persons per frame (capacity of the output).
        batch_size (`int`, *optional*, defaults to 8): person crops per forward pass (crops of all frames are pooled).
        device (`str`, *optional*, defaults to `"cpu"`).
        min_score (`float`, *optional*, defaults to 0.0): detector score a person box needs to be posed, on top of the
            detector's own threshold.

    Pre- and post-processing follow `VitPoseImageProcessorPil` (box -> center / scale with the 1.25 padding, unbiased
    affine crop to the model's input size, rescale + normalise; heatmap argmax, DARK refinement with kernel 11, back to
    frame pixels) but without its scipy dependency (see the module docstring). Keypoints are normalised by the frame
    width / height and clipped to [0, 1] (a keypoint predicted outside the frame lands on its border); scores are the
    heatmap maxima clipped to [0, 1]. For ViTPose++ checkpoints (`num_experts > 1`) the COCO head (`dataset_index`
    0) is used.
    """

    backend = "vitpose"

    def __init__(
        self,
        model_name_or_path: str = "usyd-community/vitpose-base-simple",
        max_persons: int = 8,
        batch_size: int = 8,
        device: str = "cpu",
        min_score: float = 0.0,
        dark_kernel: int = 11,
    ):
        self.model_name_or_path = str(model_name_or_path)
        self.max_persons = _check_positive("max_persons", max_persons)
        self.batch_size = _check_positive("batch_size", batch_size)
        self.device = device
        self.min_score = float(min_score)
        self.dark_kernel = _check_positive("dark_kernel", dark_kernel)
        self._model = None
        self._processor = None

    @property
    def extractor_id(self) -> str:
        return (
            f"{self.backend}(model={self.model_name_or_path}, max_persons={self.max_persons}, "
            f"min_score={self.min_score:g}, dark_kernel={self.dark_kernel})"
        )

    @property
    def model(self):
        """The `VitPoseForPoseEstimation` (loaded on first access)."""
        if self._model is None:
            from transformers import VitPoseForPoseEstimation

            model = VitPoseForPoseEstimation.from_pretrained(self.model_name_or_path).to(self.device).eval()
            if model.config.num_labels != NUM_COCO_KEYPOINTS:
                raise ValueError(
                    f"{self.model_name_or_path} predicts {model.config.num_labels} keypoints but Sherlock's action "
                    f"expert reads the {NUM_COCO_KEYPOINTS} COCO keypoints."
                )
            self._model = model
        return self._model

    @property
    def processor(self):
        """The `VitPoseImageProcessorPil` whose settings drive the crops (loaded on first access)."""
        if self._processor is None:
            from transformers import VitPoseImageProcessorPil

            self._processor = VitPoseImageProcessorPil.from_pretrained(self.model_name_or_path)
        return self._processor

    def _crop_settings(self):
        from transformers.models.vitpose.image_processing_pil_vitpose import box_to_center_and_scale, get_warp_matrix

        processor = self.processor
        height, width = int(processor.size["height"]), int(processor.size["width"])
        normalize_factor = float(getattr(processor, "normalize_factor", 200.0) or 200.0)
        return height, width, normalize_factor, box_to_center_and_scale, get_warp_matrix

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]:
        frames = _check_frames(frames)
        _check_detections(detections, len(frames))
        output = self._empty(len(frames))
        persons = self._select_persons(detections, self.min_score)
        # (frame index, slot, COCO xywh box in pixels)
        jobs = []
        frame_height, frame_width = frames.shape[1:3]
        scale_px = np.array([frame_width, frame_height, frame_width, frame_height], dtype=np.float64)
        for index, selected in enumerate(persons):
            for slot, detection in enumerate(selected):
                x1, y1, x2, y2 = detections[index].boxes[detection].astype(np.float64) * scale_px
                jobs.append((index, slot, np.array([x1, y1, x2 - x1, y2 - y1])))
        if not jobs:
            return output

        from transformers.models.vitpose.image_processing_pil_vitpose import get_keypoint_predictions, transform_preds

        model, processor = self.model, self.processor
        height, width, normalize_factor, box_to_center_and_scale, get_warp_matrix = self._crop_settings()
        mean = torch.tensor(processor.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(processor.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        rescale = float(processor.rescale_factor) if processor.do_rescale else 1.0
        num_experts = getattr(model.config.backbone_config, "num_experts", 1)
        for batch in _batches(jobs, self.batch_size):
            centers, scales, crops = [], [], []
            # Crops are grouped by frame (jobs are in frame order), each frame converted to float once.
            for frame_index in dict.fromkeys(job[0] for job in batch):
                frame_jobs = [job for job in batch if job[0] == frame_index]
                matrices = []
                for _, _, box in frame_jobs:
                    center, scale = box_to_center_and_scale(
                        box, image_width=width, image_height=height, normalize_factor=normalize_factor
                    )
                    centers.append(center)
                    scales.append(scale)
                    # As VitPoseImageProcessorPil.affine_transform: the ROI size is `scale * 200` whatever the factor.
                    matrices.append(get_warp_matrix(0, center * 2.0, np.array([width, height]) - 1.0, scale * 200.0))
                frame = torch.from_numpy(np.ascontiguousarray(frames[frame_index].transpose(2, 0, 1))).float()
                # Rounded to integers like the uint8 crops of cv2 / scipy that ViTPose was trained and evaluated on.
                crops.append(affine_crops(frame, np.stack(matrices).astype(np.float64), height, width).round())
            pixel_values = torch.cat(crops) * rescale
            if processor.do_normalize:
                pixel_values = (pixel_values - mean) / std
            kwargs = {}
            if num_experts > 1:
                kwargs["dataset_index"] = torch.zeros(len(batch), dtype=torch.long, device=self.device)
            with torch.inference_mode():
                heatmaps = model(pixel_values=pixel_values.to(self.device, dtype=model.dtype), **kwargs).heatmaps
            heatmaps = heatmaps.float().cpu().numpy()
            coords, maxvals = get_keypoint_predictions(heatmaps)
            coords = dark_refine(coords, heatmaps, kernel=self.dark_kernel)
            map_height, map_width = heatmaps.shape[-2:]
            # The post-processing recomputes center / scale with the default normalize factor (as upstream does).
            for row, (frame_index, slot, box) in enumerate(batch):
                center, scale = box_to_center_and_scale(box, image_width=width, image_height=height)
                points = transform_preds(coords[row], center=center, scale=scale, output_size=[map_height, map_width])
                keypoints = output["pose_keypoints"][frame_index, slot]
                keypoints[:, 0] = np.clip(points[:, 0] / frame_width, 0.0, 1.0)
                keypoints[:, 1] = np.clip(points[:, 1] / frame_height, 0.0, 1.0)
                keypoints[:, 2] = np.clip(np.nan_to_num(maxvals[row, :, 0], nan=0.0), 0.0, 1.0)
                output["pose_mask"][frame_index, slot] = True
        return output


class HigherHRNetPoseExtractor(PoseExtractor):
    """The paper's pose backend: HigherHRNet (or any mmpose 1.x 2D body model) through mmpose. Optional.

    Args:
        config_path (`str`): the mmpose config file of the model.
        checkpoint (`str`): path or URL of its checkpoint.
        max_persons (`int`, *optional*, defaults to 8).
        device (`str`, *optional*, defaults to `"cpu"`).
        mode (`str`, *optional*, defaults to `"auto"`): `"bottomup"` runs `mmpose.apis.inference_bottomup` on the whole
            frame (HigherHRNet / associative-embedding models find the persons themselves; persons are ranked by mean
            keypoint score), `"topdown"` runs `inference_topdown` on the detector's person boxes, `"auto"` picks
            bottom-up for a `BottomupPoseEstimator` and top-down otherwise.
        min_score (`float`, *optional*, defaults to 0.0): detector score a person box needs (top-down mode).

    Constructing it without mmpose raises `ImportError` with the install hint. mmpose needs mmcv and torchvision, so
    this backend cannot run in this project's environment; it was written against the public mmpose 1.x API
    (`init_model`, `inference_topdown(model, img, bboxes, bbox_format="xyxy")`, `inference_bottomup(model, img)`,
    results in `PoseDataSample.pred_instances.keypoints` / `.keypoint_scores`) and is untested here.
    """

    backend = "higherhrnet"

    def __init__(
        self,
        config_path: str,
        checkpoint: str,
        max_persons: int = 8,
        device: str = "cpu",
        mode: str = "auto",
        min_score: float = 0.0,
    ):
        _require("mmpose.apis", _MMPOSE_HINT, type(self).__name__)
        if mode not in ("auto", "bottomup", "topdown"):
            raise ValueError(f"`mode` must be 'auto', 'bottomup' or 'topdown', got {mode!r}.")
        self.config_path, self.checkpoint = str(config_path), str(checkpoint)
        self.max_persons = _check_positive("max_persons", max_persons)
        self.device, self.mode, self.min_score = device, mode, float(min_score)
        self._model = None

    @property
    def extractor_id(self) -> str:
        return (
            f"{self.backend}(config={self.config_path}, checkpoint={self.checkpoint}, mode={self.mode}, "
            f"max_persons={self.max_persons}, min_score={self.min_score:g})"
        )

    @property
    def model(self):
        if self._model is None:
            from mmpose.apis import init_model

            self._model = init_model(self.config_path, self.checkpoint, device=self.device)
        return self._model

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]:
        from mmpose.apis import inference_bottomup, inference_topdown

        frames = _check_frames(frames)
        _check_detections(detections, len(frames))
        output = self._empty(len(frames))
        model = self.model
        bottomup = self.mode == "bottomup" or (self.mode == "auto" and type(model).__name__ == "BottomupPoseEstimator")
        persons = None if bottomup else self._select_persons(detections, self.min_score)
        height, width = frames.shape[1:3]
        for index, frame in enumerate(frames):
            image = np.ascontiguousarray(frame[..., ::-1])  # mmpose pipelines expect BGR (cv2) images
            if bottomup:
                instances = inference_bottomup(model, image)[0].pred_instances
                keypoints = np.asarray(instances.keypoints, dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS, 2)
                scores = np.asarray(instances.keypoint_scores, dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS)
                order = np.argsort(-scores.mean(axis=1), kind="stable")
                if len(order) > self.max_persons:
                    logger.debug(f"Frame {index}: {len(order)} persons, keeping {self.max_persons}.")
                order = order[: self.max_persons]
                keypoints, scores = keypoints[order], scores[order]
            else:
                if len(persons[index]) == 0:
                    continue  # inference_topdown would treat the whole frame as one person
                boxes = detections[index].boxes[persons[index]] * np.array([width, height, width, height])
                samples = inference_topdown(model, image, bboxes=boxes, bbox_format="xyxy")
                keypoints = np.concatenate([np.asarray(s.pred_instances.keypoints) for s in samples]).astype(
                    np.float32
                )
                scores = np.concatenate([np.asarray(s.pred_instances.keypoint_scores) for s in samples])
            if keypoints.shape[1:] != (NUM_COCO_KEYPOINTS, 2):
                raise ValueError(
                    f"The mmpose model returned keypoints of shape {keypoints.shape}; expected 17 (COCO)."
                )
            count = len(keypoints)
            output["pose_keypoints"][index, :count, :, 0] = np.clip(keypoints[..., 0] / width, 0.0, 1.0)
            output["pose_keypoints"][index, :count, :, 1] = np.clip(keypoints[..., 1] / height, 0.0, 1.0)
            output["pose_keypoints"][index, :count, :, 2] = np.clip(scores, 0.0, 1.0)
            output["pose_mask"][index, :count] = True
        return output


# --------------------------------------------------------------------------------------------------------------------
# Geometric relations
# --------------------------------------------------------------------------------------------------------------------


class GeometricRelationExtractor(ObjectRelationExtractor):
    """Objects = the top detections; relations = geometric predicates over their boxes (`relations_sherlock.py`).

    Args:
        max_objects (`int`, *optional*, defaults to 16): objects per frame (capacity), highest scores first.
        max_relations (`int`, *optional*, defaults to 32): relations per frame (capacity), highest priority first (the
            order of `box_relations`: interaction predicates like holding / riding first, far-from last).
        min_score (`float`, *optional*, defaults to 0.0): detector score an object needs, on top of the detector's own
            threshold.
        rideable_classes (`tuple[str]`, *optional*, defaults to `RIDEABLE_CLASS_NAMES`): detector class names a person
            can ride (matched against the detections' `id2label`).
    """

    backend = "geometric"

    def __init__(
        self,
        max_objects: int = 16,
        max_relations: int = 32,
        min_score: float = 0.0,
        rideable_classes: tuple = RIDEABLE_CLASS_NAMES,
    ):
        self.max_objects = _check_positive("max_objects", max_objects)
        self.max_relations = _check_positive("max_relations", max_relations)
        self.min_score = float(min_score)
        self.rideable_classes = tuple(str(name).lower() for name in rideable_classes)

    @property
    def extractor_id(self) -> str:
        rideable = "" if self.rideable_classes == RIDEABLE_CLASS_NAMES else f", rideable={list(self.rideable_classes)}"
        return (
            f"{self.backend}(rules=v{RELATION_RULES_VERSION}, max_objects={self.max_objects}, "
            f"max_relations={self.max_relations}, min_score={self.min_score:g}{rideable})"
        )

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]:
        frames = _check_frames(frames)
        num_frames = len(frames)
        _check_detections(detections, num_frames)
        out = {
            "object_boxes": np.zeros((num_frames, self.max_objects, 4), dtype=np.float32),
            "object_labels": np.zeros((num_frames, self.max_objects), dtype=np.int64),
            "object_mask": np.zeros((num_frames, self.max_objects), dtype=bool),
            "relation_triplets": np.zeros((num_frames, self.max_relations, 3), dtype=np.int64),
            "relation_mask": np.zeros((num_frames, self.max_relations), dtype=bool),
        }
        for index, frame_detections in enumerate(detections):
            keep = np.flatnonzero(frame_detections.scores >= self.min_score)
            if len(keep) > self.max_objects:
                logger.debug(
                    f"Frame {index}: {len(keep)} objects, keeping the {self.max_objects} best (`max_objects` "
                    f"capacity); {len(keep) - self.max_objects} dropped."
                )
            keep = keep[: self.max_objects]
            count = len(keep)
            boxes, labels = frame_detections.boxes[keep], frame_detections.labels[keep]
            out["object_boxes"][index, :count] = boxes
            out["object_labels"][index, :count] = labels
            out["object_mask"][index, :count] = True
            rideable = rideable_label_ids(frame_detections.id2label, self.rideable_classes)
            relations = box_relations(boxes, labels, frame_detections.person_label_id, rideable)
            if len(relations) > self.max_relations:
                logger.debug(
                    f"Frame {index}: {len(relations)} relations, keeping the {self.max_relations} of highest priority "
                    f"(`max_relations` capacity)."
                )
            relations = relations[: self.max_relations]
            if relations:
                out["relation_triplets"][index, : len(relations)] = np.asarray(relations, dtype=np.int64)
                out["relation_mask"][index, : len(relations)] = True
        return out


# --------------------------------------------------------------------------------------------------------------------
# Background: SAM2
# --------------------------------------------------------------------------------------------------------------------


def _box_regions(boxes: np.ndarray, height: int, width: int, margin: float) -> list[tuple[int, int, int, int]]:
    """Pixel regions `(x1, y1, x2, y2)` (end-exclusive) of normalised boxes grown by `margin` x their size per side."""
    regions = []
    for x1, y1, x2, y2 in boxes.astype(np.float64):
        dx, dy = margin * (x2 - x1), margin * (y2 - y1)
        regions.append(
            (
                max(int(math.floor((x1 - dx) * width)), 0),
                max(int(math.floor((y1 - dy) * height)), 0),
                min(int(math.ceil((x2 + dx) * width)), width),
                min(int(math.ceil((y2 + dy) * height)), height),
            )
        )
    return regions


def blank_foreground(
    frame: np.ndarray, masks: np.ndarray, boxes: np.ndarray, box_margin: float, fill_value: tuple
) -> np.ndarray:
    """Fill `frame`'s pixels covered by any mask, each mask restricted to its prompt box grown by `box_margin`.

    Args:
        frame (`np.ndarray` uint8 `(H, W, 3)`), masks (`np.ndarray` bool `(n, H, W)`), boxes (normalised `(n, 4)`).
    """
    height, width = frame.shape[:2]
    foreground = np.zeros((height, width), dtype=bool)
    for mask, (x1, y1, x2, y2) in zip(masks, _box_regions(boxes, height, width, box_margin)):
        foreground[y1:y2, x1:x2] |= mask[y1:y2, x1:x2]
    out = frame.copy()
    out[foreground] = np.asarray(fill_value, dtype=np.uint8)
    return out


def _read_preprocessor_config(model_name_or_path: str) -> dict:
    """`preprocessor_config.json` of a local folder or Hub repo as a dict ({} when there is none)."""
    local = os.path.join(model_name_or_path, "preprocessor_config.json")
    if os.path.isdir(model_name_or_path):
        if not os.path.isfile(local):
            return {}
        with open(local, encoding="utf-8") as handle:
            return json.load(handle)
    from transformers.utils import cached_file

    path = cached_file(model_name_or_path, "preprocessor_config.json", _raise_exceptions_for_missing_entries=False)
    if path is None:
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class _BoxPromptedBackgroundExtractor(BackgroundExtractor):
    """Shared settings of the box-prompted segmentation backends (prompt selection, mask clipping, fill)."""

    backend = "box_prompted"

    def __init__(
        self,
        batch_size: int = 4,
        device: str = "cpu",
        min_score: float = 0.0,
        max_boxes: int | None = None,
        mask_threshold: float = 0.0,
        box_margin: float = 0.1,
        fill_value: tuple = CLIP_MEAN_FILL,
    ):
        self.batch_size = _check_positive("batch_size", batch_size)
        self.device = device
        self.min_score = float(min_score)
        self.max_boxes = None if max_boxes is None else _check_positive("max_boxes", max_boxes)
        self.mask_threshold = float(mask_threshold)
        if box_margin < 0:
            raise ValueError(f"`box_margin` must be >= 0, got {box_margin}.")
        self.box_margin = float(box_margin)
        fill_value = tuple(int(v) for v in fill_value)
        if len(fill_value) != 3 or not all(0 <= v <= 255 for v in fill_value):
            raise ValueError(f"`fill_value` must be three integers in [0, 255], got {fill_value}.")
        self.fill_value = fill_value

    def _settings_id(self) -> str:
        return (
            f"min_score={self.min_score:g}, max_boxes={self.max_boxes}, mask_threshold={self.mask_threshold:g}, "
            f"box_margin={self.box_margin:g}, fill={list(self.fill_value)}"
        )

    def _prompts(self, detections: list[FrameDetections]) -> dict[int, np.ndarray]:
        """Per frame, the normalised prompt boxes (highest scores first, at most `max_boxes`)."""
        prompts = {}
        for index, frame_detections in enumerate(detections):
            keep = np.flatnonzero(frame_detections.scores >= self.min_score)
            if self.max_boxes is not None and len(keep) > self.max_boxes:
                logger.debug(f"Frame {index}: {len(keep)} boxes, prompting with the {self.max_boxes} best.")
                keep = keep[: self.max_boxes]
            prompts[index] = frame_detections.boxes[keep]
        return prompts


class Sam2BackgroundExtractor(_BoxPromptedBackgroundExtractor):
    """SAM2 (`Sam2Model`) masks prompted by every detected box; the foreground is blanked.

    Args:
        model_name_or_path (`str`, *optional*, defaults to `"facebook/sam2.1-hiera-tiny"`): Hub id or local folder.
        batch_size (`int`, *optional*, defaults to 4): frames per forward pass (only frames with detections run).
        device (`str`, *optional*, defaults to `"cpu"`).
        min_score (`float`, *optional*, defaults to 0.0): detector score a box needs to be a prompt.
        max_boxes (`int`, *optional*): prompts per frame, highest scores first (`None`: all detections).
        mask_threshold (`float`, *optional*, defaults to 0.0): logit threshold of the upsampled masks.
        box_margin (`float`, *optional*, defaults to 0.1): each mask is kept only inside its prompt box grown by this
            fraction of the box size per side. A box-prompted mask belongs to its box; the clip stops a bad mask (a
            leak along a similar texture) from blanking the background the expert is meant to see.
        fill_value (`tuple[int, int, int]`, *optional*, defaults to `CLIP_MEAN_FILL`): the RGB fill of the foreground:
            CLIP's mean colour, which the background tower's normalisation maps to ~0 (no signal).

    Frames with no detections are returned unchanged. Preprocessing is done here because transformers'
    `Sam2ImageProcessor` needs torchvision (see the module docstring).
    """

    backend = "sam2"

    def __init__(
        self,
        model_name_or_path: str = "facebook/sam2.1-hiera-tiny",
        batch_size: int = 4,
        device: str = "cpu",
        min_score: float = 0.0,
        max_boxes: int | None = None,
        mask_threshold: float = 0.0,
        box_margin: float = 0.1,
        fill_value: tuple = CLIP_MEAN_FILL,
    ):
        super().__init__(batch_size, device, min_score, max_boxes, mask_threshold, box_margin, fill_value)
        self.model_name_or_path = str(model_name_or_path)
        self._model = None
        self._preprocessing = None

    @property
    def extractor_id(self) -> str:
        return f"{self.backend}(model={self.model_name_or_path}, {self._settings_id()})"

    @property
    def model(self):
        """The `Sam2Model` (loaded on first access)."""
        if self._model is None:
            from transformers import Sam2Model

            self._model = Sam2Model.from_pretrained(self.model_name_or_path).to(self.device).eval()
        return self._model

    @property
    def preprocessing(self) -> dict:
        """Input size `(height, width)`, mean, std and rescale factor, from `preprocessor_config.json` or defaults."""
        if self._preprocessing is None:
            settings = _read_preprocessor_config(self.model_name_or_path)
            size = settings.get("size") or {}
            if "height" in size and "width" in size:
                input_size = (int(size["height"]), int(size["width"]))
            elif "longest_edge" in size:
                input_size = (int(size["longest_edge"]),) * 2
            else:
                side = self.model.config.prompt_encoder_config.image_size
                input_size = (side, side) if isinstance(side, int) else tuple(side)
            self._preprocessing = {
                "size": input_size,
                "mean": tuple(settings.get("image_mean") or IMAGENET_DEFAULT_MEAN),
                "std": tuple(settings.get("image_std") or IMAGENET_DEFAULT_STD),
                "rescale_factor": float(settings.get("rescale_factor", 1 / 255)),
            }
        return self._preprocessing

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """SAM2's image preprocessing of uint8 `(B, H, W, 3)` frames -> float `(B, 3, S_h, S_w)`."""
        prep = self.preprocessing
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        images = F.interpolate(images, size=prep["size"], mode="bilinear", align_corners=False, antialias=True)
        # torchvision resizes the uint8 frames to uint8: round the same way before rescaling.
        images = images.round().clamp(0, 255) * prep["rescale_factor"]
        mean = torch.tensor(prep["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(prep["std"], dtype=torch.float32).view(1, 3, 1, 1)
        return (images - mean) / std

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> np.ndarray:
        frames = _check_frames(frames)
        _check_detections(detections, len(frames))
        output = frames.copy()
        prompts = self._prompts(detections)
        todo = [index for index, boxes in prompts.items() if len(boxes)]
        if not todo:
            return output
        model = self.model
        input_height, input_width = self.preprocessing["size"]
        height, width = frames.shape[1:3]
        for batch in _batches(todo, self.batch_size):
            most = max(len(prompts[index]) for index in batch)
            # Pad every frame's prompts to the same count by repeating its first box; padded masks are ignored.
            input_boxes = np.stack(
                [np.concatenate([prompts[i], np.repeat(prompts[i][:1], most - len(prompts[i]), 0)]) for i in batch]
            ).astype(np.float32)
            # Sam2Processor's box scaling: pixel box * (input size / frame size) = normalised box * input size.
            input_boxes = input_boxes * np.array([input_width, input_height, input_width, input_height], np.float32)
            pixel_values = self.pixel_values(frames[batch]).to(self.device, dtype=model.dtype)
            with torch.inference_mode():
                outputs = model(
                    pixel_values=pixel_values,
                    input_boxes=torch.from_numpy(input_boxes).to(self.device, dtype=model.dtype),
                    multimask_output=False,
                )
            low_res = outputs.pred_masks[:, :, 0].float().cpu()  # (B, boxes, h, w) logits
            for row, index in enumerate(batch):
                count = len(prompts[index])
                masks = []
                for chunk in range(0, count, 8):  # bounds the memory of full-resolution logits
                    logits = F.interpolate(
                        low_res[row : row + 1, chunk : min(chunk + 8, count)],
                        size=(height, width),
                        mode="bilinear",
                        align_corners=False,
                    )[0]
                    masks.append((logits > self.mask_threshold).numpy())
                output[index] = blank_foreground(
                    frames[index], np.concatenate(masks), prompts[index], self.box_margin, self.fill_value
                )
        return output


class MetaSam2BackgroundExtractor(_BoxPromptedBackgroundExtractor):
    """The paper's background backend: Meta's `sam2` package (`SAM2ImagePredictor`) with box prompts. Optional.

    Args:
        checkpoint (`str`): the SAM2 checkpoint (e.g. `sam2.1_hiera_tiny.pt`).
        model_cfg (`str`): its Hydra config name (e.g. `configs/sam2.1/sam2.1_hiera_t.yaml`).
        batch_size, device, min_score, max_boxes, mask_threshold, box_margin, fill_value: as `Sam2BackgroundExtractor`.

    Constructing it without `sam2` raises `ImportError` with the install hint. `sam2` needs torchvision, so this backend
    cannot run here; it was written against the public API (`build_sam2(model_cfg, checkpoint, device=...)`,
    `SAM2ImagePredictor(model, mask_threshold=...)`, `set_image_batch(list of HWC RGB uint8)` and
    `predict_batch(box_batch=[(n, 4) xyxy pixel boxes], multimask_output=False)`) and is untested.
    """

    backend = "meta_sam2"

    def __init__(
        self,
        checkpoint: str,
        model_cfg: str,
        batch_size: int = 4,
        device: str = "cpu",
        min_score: float = 0.0,
        max_boxes: int | None = None,
        mask_threshold: float = 0.0,
        box_margin: float = 0.1,
        fill_value: tuple = CLIP_MEAN_FILL,
    ):
        _require("sam2", _SAM2_HINT, type(self).__name__)
        super().__init__(batch_size, device, min_score, max_boxes, mask_threshold, box_margin, fill_value)
        self.checkpoint, self.model_cfg = str(checkpoint), str(model_cfg)
        self._predictor = None

    @property
    def extractor_id(self) -> str:
        return f"{self.backend}(checkpoint={self.checkpoint}, model_cfg={self.model_cfg}, {self._settings_id()})"

    @property
    def predictor(self):
        """The `SAM2ImagePredictor` (built on first access)."""
        if self._predictor is None:
            from sam2.build_sam import build_sam2
            from sam2.sam2_image_predictor import SAM2ImagePredictor

            model = build_sam2(self.model_cfg, self.checkpoint, device=self.device)
            self._predictor = SAM2ImagePredictor(model, mask_threshold=self.mask_threshold)
        return self._predictor

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> np.ndarray:
        frames = _check_frames(frames)
        _check_detections(detections, len(frames))
        output = frames.copy()
        prompts = self._prompts(detections)
        todo = [index for index, boxes in prompts.items() if len(boxes)]
        height, width = frames.shape[1:3]
        scale = np.array([width, height, width, height], dtype=np.float32)
        for batch in _batches(todo, self.batch_size):
            predictor = self.predictor
            with torch.inference_mode():
                predictor.set_image_batch([np.ascontiguousarray(frames[index]) for index in batch])
                masks, _, _ = predictor.predict_batch(
                    box_batch=[prompts[index] * scale for index in batch], multimask_output=False
                )
            for index, frame_masks in zip(batch, masks):
                # (n, 1, H, W) for several boxes, (1, H, W) for one: flatten to (n, H, W).
                frame_masks = np.asarray(frame_masks).reshape(-1, height, width) > 0
                output[index] = blank_foreground(
                    frames[index], frame_masks, prompts[index], self.box_margin, self.fill_value
                )
        return output


# --------------------------------------------------------------------------------------------------------------------
# The set and its settings
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class ExtractorSet:
    """The detector and the three expert extractors of a processor. Any part may be `None` (that input is skipped).

    `extract(frames)` runs the detector once and feeds its detections to the pose, object-relation and background
    extractors; the result holds the keys of the parts that exist, among `EXPERT_OUTPUT_KEYS`.
    """

    detector: ObjectDetector | None = None
    pose: PoseExtractor | None = None
    objects: ObjectRelationExtractor | None = None
    background: BackgroundExtractor | None = None

    def __post_init__(self):
        needing = [name for name in ("pose", "objects", "background") if getattr(self, name) is not None]
        if needing and self.detector is None:
            raise ValueError(f"The extractors {needing} read detections, but no `detector` was given.")

    def extractor_ids(self) -> dict[str, str]:
        """`{part: extractor_id}` for the parts that exist (the feature cache keys on it)."""
        parts = {"detector": self.detector, "pose": self.pose, "objects": self.objects, "background": self.background}
        return {name: part.extractor_id for name, part in parts.items() if part is not None}

    def extract(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The expert inputs of one clip's frames (uint8 `(F, H, W, 3)`)."""
        frames = _check_frames(frames)
        out: dict[str, np.ndarray] = {}
        if self.pose is None and self.objects is None and self.background is None:
            return out
        detections = self.detector.detect(frames)
        _check_detections(detections, len(frames))
        if self.pose is not None:
            out.update(self.pose(frames, detections))
        if self.objects is not None:
            out.update(self.objects(frames, detections))
        if self.background is not None:
            out["background_frames"] = self.background(frames, detections)
        return out


# Backends by part: settings name -> (class, {settings key: constructor argument}).
EXTRACTOR_BACKENDS: dict[str, dict[str, tuple[type, dict[str, str]]]] = {
    "detector": {"rt_detr": (RTDetrObjectDetector, {"model": "model_name_or_path"})},
    "pose": {
        "vitpose": (ViTPoseExtractor, {"model": "model_name_or_path"}),
        "higherhrnet": (HigherHRNetPoseExtractor, {}),
    },
    "objects": {"geometric": (GeometricRelationExtractor, {})},
    "background": {
        "sam2": (Sam2BackgroundExtractor, {"model": "model_name_or_path"}),
        "meta_sam2": (MetaSam2BackgroundExtractor, {}),
    },
}

DEFAULT_EXTRACTOR_SETTINGS: dict[str, Any] = {
    "detector": {"backend": "rt_detr", "model": "PekingU/rtdetr_r50vd", "threshold": 0.5},
    "pose": {"backend": "vitpose", "model": "usyd-community/vitpose-base-simple", "max_persons": 8},
    "objects": {"backend": "geometric", "max_objects": 16, "max_relations": 32},
    "background": {"backend": "sam2", "model": "facebook/sam2.1-hiera-tiny"},
}


def _build_part(part: str, settings: Mapping[str, Any]):
    if not isinstance(settings, Mapping) or "backend" not in settings:
        raise ValueError(f"Settings of {part!r} must be a dict with a 'backend' key, got {settings!r}.")
    known = EXTRACTOR_BACKENDS[part]
    backend = settings["backend"]
    if backend not in known:
        raise ValueError(f"Unknown {part} backend {backend!r}; known: {sorted(known)}.")
    cls, renames = known[backend]
    kwargs = {renames.get(key, key): value for key, value in settings.items() if key != "backend"}
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        names = sorted({next((k for k, v in renames.items() if v == a), a) for a in accepted})
        raise ValueError(f"Unknown settings {unknown} for the {part} backend {backend!r}; accepted: {names}.")
    return cls(**kwargs)


def build_extractors(settings: Mapping[str, Any] | None = None) -> ExtractorSet:
    """Build an `ExtractorSet` from JSON-able settings (as saved in `processor_config.json`).

    Args:
        settings (`dict`, *optional*, defaults to `DEFAULT_EXTRACTOR_SETTINGS`): `{"detector": {...}, "pose": {...},
            "objects": {...}, "background": {...}}`; each part is `{"backend": name, **constructor arguments}` (`"model"`
            stands for `model_name_or_path`) or `None` / absent to skip that part. Backends: detector `rt_detr`; pose
            `vitpose`, `higherhrnet` (mmpose); objects `geometric`; background `sam2`, `meta_sam2` (Meta's sam2).

    Returns:
        `ExtractorSet`: no weights are loaded (models load on first use).

    Raises:
        `ValueError` for an unknown part, backend or setting (listing the known ones); `ImportError` (with the install
        hint) for a paper backend whose package is missing.
    """
    settings = DEFAULT_EXTRACTOR_SETTINGS if settings is None else settings
    unknown = sorted(set(settings) - set(EXTRACTOR_BACKENDS))
    if unknown:
        raise ValueError(f"Unknown extractor parts {unknown}; known: {list(EXTRACTOR_BACKENDS)}.")
    parts = {part: _build_part(part, value) for part, value in settings.items() if value is not None}
    return ExtractorSet(**parts)


__all__ = [
    "CLIP_MEAN_FILL",
    "DEFAULT_EXTRACTOR_SETTINGS",
    "EXPERT_OUTPUT_KEYS",
    "EXTRACTOR_BACKENDS",
    "BackgroundExtractor",
    "ExtractorSet",
    "FrameDetections",
    "GeometricRelationExtractor",
    "HigherHRNetPoseExtractor",
    "MetaSam2BackgroundExtractor",
    "ObjectDetector",
    "ObjectRelationExtractor",
    "PoseExtractor",
    "RTDetrObjectDetector",
    "Sam2BackgroundExtractor",
    "ViTPoseExtractor",
    "affine_crops",
    "blank_foreground",
    "build_extractors",
    "dark_refine",
    "gaussian_blur_heatmaps",
]
