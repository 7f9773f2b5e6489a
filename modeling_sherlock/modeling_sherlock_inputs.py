# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Checks of the expert inputs of Sherlock's forward: every mismatch raises a `ValueError` with both numbers.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import torch
from transformers.utils import logging

from .configuration_sherlock import SherlockConfig


logger = logging.get_logger(__name__)

# The names of the expert inputs of `forward` / `generate` (fed on the prefill step only).
EXPERT_INPUT_NAMES = (
    "pose_keypoints",
    "pose_mask",
    "object_boxes",
    "object_labels",
    "object_mask",
    "relation_triplets",
    "relation_mask",
    "background_pixel_values",
    "background_features",
)
# Which inputs each local expert reads (the first of each group is required, `|` = one of).
EXPERT_REQUIRED_INPUTS = {
    "action": ("pose_keypoints",),
    "object_relation": ("object_boxes", "object_labels"),
    "background": ("background_pixel_values|background_features",),
}
EXPERT_OWNED_INPUTS = {
    "action": ("pose_keypoints", "pose_mask"),
    "object_relation": ("object_boxes", "object_labels", "object_mask", "relation_triplets", "relation_mask"),
    "background": ("background_pixel_values", "background_features"),
}


def _check_leading(name: str, tensor: torch.Tensor, ndim: int, batch: int, frames: int) -> None:
    if tensor.dim() != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got {tensor.dim()} (shape {tuple(tensor.shape)}).")
    if tensor.shape[0] != batch:
        raise ValueError(f"`{name}` has batch size {tensor.shape[0]} but `pixel_values_videos` has {batch}.")
    if tensor.shape[1] != frames:
        raise ValueError(f"`{name}` has {tensor.shape[1]} frames but `pixel_values_videos` has {frames} frames.")


def _check_mask(name: str, mask: torch.Tensor | None, shape: tuple, device: torch.device) -> torch.Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool, device=device)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"`{name}` has shape {tuple(mask.shape)} but its inputs need {tuple(shape)}.")
    return mask.bool()


def _check_capacity(name: str, count: int, limit_name: str, limit: int) -> None:
    if count > limit:
        raise ValueError(f"`{name}` holds {count} entries per frame but `config.{limit_name}` is {limit}.")


def _check_ids(name: str, ids: torch.Tensor, valid: torch.Tensor, size: int, what: str) -> None:
    bad = valid & ((ids < 0) | (ids >= size))
    if bad.any():
        value = int(ids[bad][0])
        raise ValueError(f"`{name}` holds {what} id {value} outside [0, {size}) ({int(bad.sum())} such entries).")


def prepare_expert_inputs(config: SherlockConfig, batch: int, frames: int, **inputs) -> dict:
    """Validate the expert inputs against the video (`batch` videos of `frames` frames) and fill default masks.

    Every listed local expert needs its inputs (the action expert `pose_keypoints`, the object-relation expert
    `object_boxes` + `object_labels`, the background expert `background_pixel_values` or `background_features`);
    masks default to all-valid and relations to none. Inputs of experts not in `config.experts` are ignored.

    Returns:
        `dict` with every name of `EXPERT_INPUT_NAMES`, masks as booleans.

    Raises:
        `ValueError` naming both numbers for a frame / batch count that differs from the video, a keypoint count other
        than `config.num_keypoints`, more persons / objects / relations than the config allows, boxes outside [0, 1]
        or with x2 < x1 / y2 < y1, class or predicate ids out of range, relation indices pointing past the frame's
        objects, a listed expert with no input, and both background inputs at once.
    """
    unknown = set(inputs) - set(EXPERT_INPUT_NAMES)
    if unknown:
        raise ValueError(f"Unknown expert inputs {sorted(unknown)}; expected some of {list(EXPERT_INPUT_NAMES)}.")
    out = {name: None for name in EXPERT_INPUT_NAMES}
    experts = list(config.experts)
    for expert, required in EXPERT_REQUIRED_INPUTS.items():
        if expert not in experts:
            ignored = [name for name in EXPERT_OWNED_INPUTS[expert] if inputs.get(name) is not None]
            if ignored:
                logger.warning_once(f"Ignoring {ignored}: the {expert!r} expert is not in `config.experts={experts}`.")
            continue
        for group in required:
            if all(inputs.get(name) is None for name in group.split("|")):
                raise ValueError(
                    f"The {expert!r} expert is in `config.experts` but `{group.replace('|', '` or `')}` was not given."
                )

    if "action" in experts:
        keypoints = inputs["pose_keypoints"]
        _check_leading("pose_keypoints", keypoints, 5, batch, frames)
        if keypoints.shape[3] != config.num_keypoints:
            raise ValueError(
                f"`pose_keypoints` has {keypoints.shape[3]} keypoints per person but `config.num_keypoints` is "
                f"{config.num_keypoints} (COCO order)."
            )
        if keypoints.shape[4] != 3:
            raise ValueError(f"`pose_keypoints` must end in (x, y, score) = 3 values, got {keypoints.shape[4]}.")
        _check_capacity("pose_keypoints", keypoints.shape[2], "max_persons", config.max_persons)
        out["pose_keypoints"] = keypoints
        out["pose_mask"] = _check_mask("pose_mask", inputs.get("pose_mask"), keypoints.shape[:3], keypoints.device)

    if "object_relation" in experts:
        boxes, labels = inputs["object_boxes"], inputs["object_labels"]
        _check_leading("object_boxes", boxes, 4, batch, frames)
        if boxes.shape[3] != 4:
            raise ValueError(f"`object_boxes` must end in (x1, y1, x2, y2) = 4 values, got {boxes.shape[3]}.")
        _check_leading("object_labels", labels, 3, batch, frames)
        if labels.shape != boxes.shape[:3]:
            raise ValueError(
                f"`object_labels` has {labels.shape[2]} objects per frame but `object_boxes` has {boxes.shape[2]}."
            )
        num_objects = boxes.shape[2]
        _check_capacity("object_boxes", num_objects, "max_objects", config.max_objects)
        object_mask = _check_mask("object_mask", inputs.get("object_mask"), boxes.shape[:3], boxes.device)
        valid_boxes = boxes[object_mask]
        if valid_boxes.numel() and (valid_boxes.min() < 0 or valid_boxes.max() > 1):
            raise ValueError(
                f"`object_boxes` must be normalised to [0, 1], got values in [{float(valid_boxes.min()):.4g}, "
                f"{float(valid_boxes.max()):.4g}]."
            )
        if (
            valid_boxes.numel()
            and ((valid_boxes[:, 2] < valid_boxes[:, 0]) | (valid_boxes[:, 3] < valid_boxes[:, 1])).any()
        ):
            raise ValueError("`object_boxes` must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2.")
        _check_ids("object_labels", labels, object_mask, config.num_object_classes, "object class")

        triplets = inputs.get("relation_triplets")
        if triplets is None:
            if inputs.get("relation_mask") is not None:
                raise ValueError("`relation_mask` was given without `relation_triplets`.")
            triplets = torch.zeros(batch, frames, 0, 3, dtype=torch.long, device=boxes.device)
        _check_leading("relation_triplets", triplets, 4, batch, frames)
        if triplets.shape[3] != 3:
            raise ValueError(
                f"`relation_triplets` must end in (subject, predicate, object) = 3 values, got {triplets.shape[3]}."
            )
        _check_capacity("relation_triplets", triplets.shape[2], "max_relations", config.max_relations)
        relation_mask = _check_mask("relation_mask", inputs.get("relation_mask"), triplets.shape[:3], boxes.device)
        triplets = triplets.long()
        _check_ids("relation_triplets", triplets[..., 1], relation_mask, config.num_relation_classes, "predicate")
        counts = object_mask.sum(-1)  # valid objects per frame
        for column, role in ((0, "subject"), (2, "object")):
            index = triplets[..., column]
            in_range = (index >= 0) & (index < num_objects)
            points_to_valid = torch.zeros_like(in_range)
            if num_objects > 0:
                points_to_valid = torch.gather(object_mask, 2, index.clamp(0, num_objects - 1)) & in_range
            bad = relation_mask & ~points_to_valid
            if bad.any():
                b, f, r = (int(i) for i in bad.nonzero()[0])
                raise ValueError(
                    f"`relation_triplets[{b}, {f}, {r}]` has {role} index {int(index[b, f, r])} but frame {f} of video "
                    f"{b} has {int(counts[b, f])} objects (indices of unmasked objects among {num_objects})."
                )
        out.update(object_boxes=boxes, object_labels=labels.long(), object_mask=object_mask)
        out.update(relation_triplets=triplets, relation_mask=relation_mask)

    if "background" in experts:
        pixels, features = inputs.get("background_pixel_values"), inputs.get("background_features")
        if pixels is not None and features is not None:
            raise ValueError("Pass either `background_pixel_values` or `background_features`, not both.")
        if features is not None:
            _check_leading("background_features", features, 4, batch, frames)
            expected = config.background_vision_config.hidden_size
            if features.shape[3] != expected:
                raise ValueError(
                    f"`background_features` has width {features.shape[3]} but the background tower's hidden size "
                    f"is {expected}."
                )
            out["background_features"] = features
        else:
            _check_leading("background_pixel_values", pixels, 5, batch, frames)
            out["background_pixel_values"] = pixels
    return out


__all__ = ["EXPERT_INPUT_NAMES", "prepare_expert_inputs"]
