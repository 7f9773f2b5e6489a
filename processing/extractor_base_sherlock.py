# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The contracts of Sherlock's expert extractors: detections, the four interfaces, shared checks and constants.

Every backend module (`extractor_*_sherlock.py`) implements one of the interfaces below; `extractors_sherlock.py`
assembles them (`build_extractors`, `ExtractorSet`). Frames are always `np.ndarray` uint8 `(F, H, W, 3)` RGB and
every output is numpy.

Capacities, not silent truncation: `max_persons` / `max_objects` / `max_relations` (and the background's optional
`max_boxes`) are the fixed sizes of the padded outputs (and of the model config). When a frame holds more, the
highest-ranked entries are kept and `warn_capacity` logs ONE warning with the counts (found N, kept M), the first
time an extractor exceeds a capacity (INFO after that).

This file ships to the Hub as remote code: it imports only the standard library, numpy and transformers.
"""

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from transformers.utils import logging


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


def check_frames(frames: np.ndarray) -> np.ndarray:
    """`frames` as a uint8 `(F, H, W, 3)` array; `ValueError` naming the shape / dtype otherwise."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"`frames` must be an (F, H, W, 3) RGB array, got shape {frames.shape}.")
    if frames.dtype != np.uint8:
        raise ValueError(f"`frames` must be uint8 (0-255), got {frames.dtype}.")
    if frames.shape[1] < 1 or frames.shape[2] < 1:
        raise ValueError(f"`frames` must have a non-empty height and width, got shape {frames.shape}.")
    return frames


def check_detections(detections: list[FrameDetections], num_frames: int) -> None:
    """`ValueError` unless there is one `FrameDetections` per frame, each with finite boxes and scores (a detector
    that returns NaN, e.g. from a half-precision overflow, would otherwise fail later in a crop with an unclear
    message, or reach the model)."""
    if len(detections) != num_frames:
        raise ValueError(f"Got detections for {len(detections)} frames but {num_frames} frames.")
    for index, frame in enumerate(detections):
        for name in ("boxes", "scores"):
            if not np.isfinite(getattr(frame, name)).all():
                raise ValueError(f"The detector returned non-finite {name} (NaN or inf) at frame {index}.")


def check_positive(name: str, value: int) -> int:
    """`value` when it is a positive `int` (not a bool); `ValueError` naming the setting otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def batches(items: list, batch_size: int):
    """Consecutive slices of `items` of at most `batch_size` entries."""
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def require(module: str, hint: str, what: str):
    """Import `module` by name, or raise `ImportError` naming it, what needs it and how to install it.

    Optional packages are imported through this function (never by an `import` statement) so that transformers'
    remote-code loader, which lists every `import` statement of a module file and refuses to load it when one package
    is missing, does not demand the optional backends' packages from every user of the processor.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{what} needs `{module}`, which is not installed: {hint}.") from error


def warn_capacity(owner, items: str, setting: str, capacity: int, found: Sequence[int], ranking: str) -> None:
    """Log ONE line when any frame held more `items` than its capacity (they were dropped), with the counts.

    The line is a warning the first time an extractor exceeds that capacity, and INFO after that: a processor that
    analyses many videos (an evaluation, a server) says it once, not once per video, and never drops silently.

    Args:
        owner: the extractor that truncated (it remembers that it warned; its class names it in the line), or a name
            (`str`: warns every time).
        items (`str`): what was counted, plural ("persons", "objects", "relations", "boxes").
        setting (`str`): the capacity's setting name (`max_persons`, ...).
        capacity (`int`): its value.
        found (`Sequence[int]`): per frame, how many there were before truncation.
        ranking (`str`): which ones were kept ("highest-scoring", "highest-priority", ...).
    """
    over = [(index, int(count)) for index, count in enumerate(found) if count > capacity]
    if not over:
        return
    total = sum(count for _, count in over)
    kept = capacity * len(over)
    shown = ", ".join(f"frame {index}: {count}" for index, count in over[:8]) + (", ..." if len(over) > 8 else "")
    name = owner if isinstance(owner, str) else type(owner).__name__
    warned = None if isinstance(owner, str) else owner.__dict__.setdefault("_capacity_warned", set())
    first = warned is None or (setting, capacity) not in warned
    message = (
        f"{name}: `{setting}`={capacity} exceeded in {len(over)} of {len(found)} frames: found {total} {items}, "
        f"kept {kept} (the {capacity} {ranking} per frame), dropped {total - kept} ({shown})."
    )
    if not first:
        logger.info(message)
        return
    if warned is not None:
        warned.add((setting, capacity))
    later = "" if warned is None else " Later clips over it are logged at INFO level only."
    logger.warning(f"{message} Raise `{setting}` (and the model's matching capacity) to keep them.{later}")


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
    `max_persons` (a capacity: extra persons are dropped with a warning that gives the counts). Padding rows are zero
    with mask `False`; a frame without persons has an all-`False` mask.
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
        """Per frame, the indices of the persons to pose (best first, at most `max_persons`; warns when cut)."""
        persons = [frame_detections.person_indices(min_score) for frame_detections in detections]
        warn_capacity(self, "persons", "max_persons", self.max_persons, [len(p) for p in persons], "best-scoring")
        if detections and all(d.person_label_id is None for d in detections):
            logger.warning_once("The detector has no person class: the pose extractor returns no persons.")
        return [selected[: self.max_persons] for selected in persons]


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


__all__ = [
    "CLIP_MEAN_FILL",
    "EXPERT_OUTPUT_KEYS",
    "IMAGENET_DEFAULT_MEAN",
    "IMAGENET_DEFAULT_STD",
    "NUM_COCO_KEYPOINTS",
    "BackgroundExtractor",
    "FrameDetections",
    "ObjectDetector",
    "ObjectRelationExtractor",
    "PoseExtractor",
    "batches",
    "check_detections",
    "check_frames",
    "check_positive",
    "require",
    "warn_capacity",
]
