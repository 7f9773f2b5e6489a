# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The default object-relation backend: the top detections as objects, geometric predicates over their boxes as
relation triplets (the rules are in `relations_sherlock.py`).

This file ships to the Hub as remote code: it imports only numpy and single-dot siblings.
"""

import numpy as np

from .extractor_base_sherlock import (
    FrameDetections,
    ObjectRelationExtractor,
    check_detections,
    check_frames,
    check_positive,
    warn_capacity,
)
from .relations_sherlock import RELATION_RULES_VERSION, RIDEABLE_CLASS_NAMES, box_relations, rideable_label_ids


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

    Relations are computed among the kept objects only, so every triplet points at an unmasked object. Objects or
    relations beyond a capacity are dropped with one line that gives the counts (`warn_capacity`).
    """

    backend = "geometric"

    def __init__(
        self,
        max_objects: int = 16,
        max_relations: int = 32,
        min_score: float = 0.0,
        rideable_classes: tuple = RIDEABLE_CLASS_NAMES,
    ):
        self.max_objects = check_positive("max_objects", max_objects)
        self.max_relations = check_positive("max_relations", max_relations)
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
        frames = check_frames(frames)
        num_frames = len(frames)
        check_detections(detections, num_frames)
        out = {
            "object_boxes": np.zeros((num_frames, self.max_objects, 4), dtype=np.float32),
            "object_labels": np.zeros((num_frames, self.max_objects), dtype=np.int64),
            "object_mask": np.zeros((num_frames, self.max_objects), dtype=bool),
            "relation_triplets": np.zeros((num_frames, self.max_relations, 3), dtype=np.int64),
            "relation_mask": np.zeros((num_frames, self.max_relations), dtype=bool),
        }
        objects_found, relations_found = [], []
        for index, frame_detections in enumerate(detections):
            keep = np.flatnonzero(frame_detections.scores >= self.min_score)
            objects_found.append(len(keep))
            keep = keep[: self.max_objects]
            count = len(keep)
            boxes, labels = frame_detections.boxes[keep], frame_detections.labels[keep]
            out["object_boxes"][index, :count] = boxes
            out["object_labels"][index, :count] = labels
            out["object_mask"][index, :count] = True
            rideable = rideable_label_ids(frame_detections.id2label, self.rideable_classes)
            relations = box_relations(boxes, labels, frame_detections.person_label_id, rideable)
            relations_found.append(len(relations))
            relations = relations[: self.max_relations]
            if relations:
                out["relation_triplets"][index, : len(relations)] = np.asarray(relations, dtype=np.int64)
                out["relation_mask"][index, : len(relations)] = True
        warn_capacity(self, "objects", "max_objects", self.max_objects, objects_found, "best-scoring")
        warn_capacity(self, "relations", "max_relations", self.max_relations, relations_found, "highest-priority")
        return out


__all__ = ["GeometricRelationExtractor"]
