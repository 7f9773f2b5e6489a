# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Expert extractors: sampled video frames -> the inputs of Sherlock's action, object-relation and background experts.

One object detector runs once per clip and its detections feed three extractors:

- pose -> `pose_keypoints (F, max_persons, 17, 3)` (x, y normalised to [0, 1], score; COCO order) and
  `pose_mask (F, max_persons)`;
- objects -> `object_boxes (F, max_objects, 4)`, `object_labels`, `object_mask`, `relation_triplets
  (F, max_relations, 3)`, `relation_mask`;
- background -> `background_frames (F, H, W, 3)` uint8: the frames with the foreground blanked.

Add a batch axis (`np.stack` over clips) and these are the model's inputs of the same names (`background_frames` goes
through the image processor to become `background_pixel_values`). Frames are always `np.ndarray` uint8
`(F, H, W, 3)` RGB; every output is numpy.

This module assembles the parts (`DEFAULT_EXTRACTOR_SETTINGS`, `EXTRACTOR_BACKENDS`, `build_extractors`,
`ExtractorSet`) and re-exports every public name of the modules that implement them:

- `extractor_base_sherlock.py`: `FrameDetections`, the four interfaces, `EXPERT_OUTPUT_KEYS`, shared checks and the
  capacity warning;
- `extractor_detector_sherlock.py`: RT-DETR (`RTDetrForObjectDetection` + `RTDetrImageProcessorPil`);
- `extractor_pose_sherlock.py`: ViTPose (`VitPoseForPoseEstimation` + `VitPoseImageProcessorPil`, which needs scipy);
- `extractor_relations_sherlock.py`: objects + geometric relation predicates (rules in `relations_sherlock.py`);
- `extractor_background_sherlock.py`: SAM2 (`Sam2Model`) prompted by the detected boxes, foreground blanked;
- `extractor_paper_sherlock.py`: the paper's tools as optional backends, HigherHRNet (mmpose) and Meta's `sam2`;
- `extractor_precomputed_sherlock.py`: the `precomputed` backend (features from the cache only).

Defaults are transformers-native and run anywhere (no torchvision). Model ids are settings; nothing is downloaded at
import time and models load on first use.

These files ship to the Hub as remote code next to the model (transformers copies every module reached through the
single-dot `from .x import` statements): at module level they import only the standard library, numpy, transformers
and single-dot siblings; torch, scipy and model classes are imported inside the functions that use them.
"""

import inspect
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .extractor_background_sherlock import (
    BoxPromptedBackgroundExtractor,
    Sam2BackgroundExtractor,
    blank_foreground,
    read_preprocessor_config,
)
from .extractor_base_sherlock import (
    CLIP_MEAN_FILL,
    EXPERT_OUTPUT_KEYS,
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    NUM_COCO_KEYPOINTS,
    BackgroundExtractor,
    FrameDetections,
    ObjectDetector,
    ObjectRelationExtractor,
    PoseExtractor,
    check_detections,
    check_frames,
    warn_capacity,
)
from .extractor_detector_sherlock import RTDetrObjectDetector, find_person_label
from .extractor_paper_sherlock import MMPOSE_HINT, SAM2_HINT, HigherHRNetPoseExtractor, MetaSam2BackgroundExtractor
from .extractor_pose_sherlock import ViTPoseExtractor, coco_pixel_boxes
from .extractor_precomputed_sherlock import PRECOMPUTED_BACKEND, is_precomputed
from .extractor_relations_sherlock import GeometricRelationExtractor
from .feature_cache_sherlock import weights_fingerprint


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
    # `{part: (model location, ...)}`: the weights each part loads (Hub ids or local paths, from the settings keys of
    # `EXTRACTOR_PATH_SETTINGS`); their fingerprints join the extractor ids, so weights changed in place are a miss.
    weight_sources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _ids: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        needing = [name for name in ("pose", "objects", "background") if getattr(self, name) is not None]
        if needing and self.detector is None:
            raise ValueError(f"The extractors {needing} read detections, but no `detector` was given.")

    def extractor_ids(self) -> dict[str, str]:
        """`{part: extractor_id}` for the parts that exist (the feature cache keys on it), each with the fingerprint of
        the weights it loads. A local model is named by that fingerprint instead of its path, so a moved or copied
        folder keeps its cache entries, while weights rewritten in place are a miss.

        Computed once per set (the processor asks on every video, and a set's models load only once, so its features
        come from the weights of its first use)."""
        if self._ids is not None:
            return dict(self._ids)
        parts = {"detector": self.detector, "pose": self.pose, "objects": self.objects, "background": self.background}
        ids = {}
        for name, part in parts.items():
            if part is None:
                continue
            part_id = part.extractor_id
            for source in self.weight_sources.get(name, ()):
                if os.path.exists(source):
                    part_id = part_id.replace(source, "<local>")
                part_id += f"|weights={weights_fingerprint(source)}"
            ids[name] = part_id
        self._ids = ids
        return dict(ids)

    def extract(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The expert inputs of one clip's frames (uint8 `(F, H, W, 3)`)."""
        frames = check_frames(frames)
        out: dict[str, np.ndarray] = {}
        if self.pose is None and self.objects is None and self.background is None:
            return out
        detections = self.detector.detect(frames)
        check_detections(detections, len(frames))
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

# The settings keys whose value is a model location (Hub id or local path) that a saved processor must carry along:
# `model` (rt_detr, vitpose, sam2), `config_path` and `checkpoint` (higherhrnet), `checkpoint` (meta_sam2).
# `model_cfg` (meta_sam2) is not one: it names a Hydra config inside the installed sam2 package.
EXTRACTOR_PATH_SETTINGS = ("model", "config_path", "checkpoint")

DEFAULT_EXTRACTOR_SETTINGS: dict[str, Any] = {
    "detector": {"backend": "rt_detr", "model": "PekingU/rtdetr_r50vd", "threshold": 0.5},
    "pose": {"backend": "vitpose", "model": "usyd-community/vitpose-base-simple", "max_persons": 8},
    "objects": {"backend": "geometric", "max_objects": 16, "max_relations": 32},
    "background": {"backend": "sam2", "model": "facebook/sam2.1-hiera-tiny"},
}


def backend_accepts(part: str, settings: Mapping[str, Any], argument: str) -> bool:
    """Whether the backend named by `settings` (a part's settings) takes the constructor argument `argument`."""
    backend = EXTRACTOR_BACKENDS.get(part, {}).get(settings.get("backend")) if isinstance(settings, Mapping) else None
    return backend is not None and argument in inspect.signature(backend[0].__init__).parameters


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
        `ValueError` for an unknown part, backend or setting (listing the known ones) and for the `precomputed`
        settings (nothing to build: the processor reads the feature cache); `ImportError` (with the install hint) for a
        paper backend whose package is missing.
    """
    settings = DEFAULT_EXTRACTOR_SETTINGS if settings is None else settings
    if is_precomputed(settings):
        raise ValueError(
            f"The {PRECOMPUTED_BACKEND!r} extractor settings build no extractor: the processor reads every expert "
            "input from its feature cache (`feature_cache_dir`)."
        )
    unknown = sorted(set(settings) - set(EXTRACTOR_BACKENDS))
    if unknown:
        raise ValueError(f"Unknown extractor parts {unknown}; known: {list(EXTRACTOR_BACKENDS)}.")
    parts = {part: _build_part(part, value) for part, value in settings.items() if value is not None}
    weight_sources = {
        part: tuple(str(value[key]) for key in EXTRACTOR_PATH_SETTINGS if value.get(key) is not None)
        for part, value in settings.items()
        if value is not None
    }
    return ExtractorSet(**parts, weight_sources=weight_sources)


__all__ = [
    "backend_accepts",
    "CLIP_MEAN_FILL",
    "DEFAULT_EXTRACTOR_SETTINGS",
    "EXPERT_OUTPUT_KEYS",
    "EXTRACTOR_BACKENDS",
    "EXTRACTOR_PATH_SETTINGS",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "MMPOSE_HINT",
    "NUM_COCO_KEYPOINTS",
    "PRECOMPUTED_BACKEND",
    "SAM2_HINT",
    "BackgroundExtractor",
    "BoxPromptedBackgroundExtractor",
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
    "blank_foreground",
    "build_extractors",
    "coco_pixel_boxes",
    "find_person_label",
    "is_precomputed",
    "read_preprocessor_config",
    "warn_capacity",
]
