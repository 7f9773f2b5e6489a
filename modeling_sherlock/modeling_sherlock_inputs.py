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


def _first_index(bad: torch.Tensor) -> str:
    return ", ".join(str(int(i)) for i in bad.nonzero()[0])


def _value_problems(config: SherlockConfig, out: dict) -> list:
    """`(condition, message)` pairs for the value checks of the prepared expert inputs: `condition` a boolean tensor
    scalar (True = the input is wrong), `message` a function building the error message (run only on failure)."""
    problems = []
    keypoints = out["pose_keypoints"]
    if keypoints is not None:
        valid = out["pose_mask"].unsqueeze(-1).unsqueeze(-1).expand_as(keypoints)
        not_finite = valid & ~torch.isfinite(keypoints)
        outside = valid & ((keypoints < 0) | (keypoints > 1))

        def keypoint_message(not_finite=not_finite, outside=outside):
            bad = not_finite if not_finite.any() else outside
            return (
                f"`pose_keypoints` must be finite with x, y and score in [0, 1] (the processor clamps keypoints to "
                f"the view), got {float(keypoints[bad][0])} at [{_first_index(bad)}] ({int(bad.sum())} such values)."
            )

        problems.append(((not_finite | outside).any(), keypoint_message))

    boxes = out["object_boxes"]
    if boxes is not None:
        object_mask, labels = out["object_mask"], out["object_labels"]
        valid = object_mask.unsqueeze(-1).expand_as(boxes)
        not_finite = valid & ~torch.isfinite(boxes)

        def finite_message(not_finite=not_finite):
            return (
                f"`object_boxes` must be finite, got {float(boxes[not_finite][0])} at [{_first_index(not_finite)}] "
                f"({int(not_finite.sum())} such values)."
            )

        problems.append((not_finite.any(), finite_message))
        outside = valid & ((boxes < 0) | (boxes > 1))

        def range_message(valid=valid):
            values = boxes[valid]
            return (
                f"`object_boxes` must be normalised to [0, 1], got values in [{float(values.min()):.4g}, "
                f"{float(values.max()):.4g}]."
            )

        problems.append((outside.any(), range_message))
        reversed_boxes = object_mask & ((boxes[..., 2] < boxes[..., 0]) | (boxes[..., 3] < boxes[..., 1]))
        problems.append(
            (reversed_boxes.any(), lambda: "`object_boxes` must be (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2.")
        )
        problems.append(_id_problem("object_labels", labels, object_mask, config.num_object_classes, "object class"))
        triplets, relation_mask = out["relation_triplets"], out["relation_mask"]
        problems.append(
            _id_problem("relation_triplets", triplets[..., 1], relation_mask, config.num_relation_classes, "predicate")
        )
        num_objects = boxes.shape[2]
        for column, role in ((0, "subject"), (2, "object")):
            index = triplets[..., column]
            in_range = (index >= 0) & (index < num_objects)
            points_to_valid = torch.zeros_like(in_range)
            if num_objects > 0:
                points_to_valid = torch.gather(object_mask, 2, index.clamp(0, num_objects - 1)) & in_range
            bad = relation_mask & ~points_to_valid

            def index_message(bad=bad, index=index, role=role):
                b, f, r = (int(i) for i in bad.nonzero()[0])
                count = int(object_mask[b, f].sum())
                return (
                    f"`relation_triplets[{b}, {f}, {r}]` has {role} index {int(index[b, f, r])} but frame {f} of "
                    f"video {b} has {count} objects (indices of unmasked objects among {num_objects})."
                )

            problems.append((bad.any(), index_message))

    for name in ("background_features", "background_pixel_values"):
        value = out[name]
        if value is not None:
            not_finite = ~torch.isfinite(value)
            message = lambda name=name, bad=not_finite: (  # noqa: E731
                f"`{name}` must be finite, got non-finite values at [{_first_index(bad)}] ({int(bad.sum())} values)."
            )
            problems.append((not_finite.any(), message))
    return problems


def _id_problem(name: str, ids: torch.Tensor, valid: torch.Tensor, size: int, what: str):
    bad = valid & ((ids < 0) | (ids >= size))

    def message():
        return f"`{name}` holds {what} id {int(ids[bad][0])} outside [0, {size}) ({int(bad.sum())} such entries)."

    return bad.any(), message


def check_expert_input_values(config: SherlockConfig, expert_inputs: dict) -> None:
    """Check the values of prepared expert inputs (the output of `prepare_expert_inputs`), at the cost of one host
    synchronisation (a device-to-host copy of a few booleans) for all the checks together.

    What is checked, over the unmasked entries: keypoints finite with x, y and score in [0, 1]; boxes finite, in
    [0, 1] and with x1 <= x2, y1 <= y2; object class and predicate ids inside the config's vocabularies; relation
    subject / object indices pointing to an unmasked object of the same frame; background pixels or features finite.
    The processor produces such inputs (it clamps keypoints and boxes to the view); this catches hand-made or
    corrupted inputs (a NaN would otherwise make the whole mixture NaN).

    Raises:
        `ValueError` naming the input, the first offending entry and how many there are.
    """
    problems = _value_problems(config, expert_inputs)
    if not problems:
        return
    failed = torch.stack([condition.reshape(()) for condition, _ in problems]).tolist()  # the one host sync
    for (_, message), bad in zip(problems, failed):
        if bad:
            raise ValueError(message())


def _zero_padding(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`values` with the entries of masked-out (padding) persons / objects set to 0: whatever a padding slot holds
    (even NaN) then cannot reach the output (a NaN times a zero attention weight or adjacency entry is still NaN)."""
    keep = mask.reshape(mask.shape + (1,) * (values.dim() - mask.dim()))
    return torch.where(keep, values, torch.zeros((), dtype=values.dtype, device=values.device))


def prepare_expert_inputs(
    config: SherlockConfig, batch: int, frames: int, check_values: bool = True, **inputs
) -> dict:
    """Check the expert inputs against the video (`batch` videos of `frames` frames) and fill default masks.

    Every listed local expert needs its inputs (the action expert `pose_keypoints`, the object-relation expert
    `object_boxes` + `object_labels`, the background expert `background_pixel_values` or `background_features`);
    masks default to all-valid and relations to none; the keypoints and boxes of masked-out (padding) persons and
    objects are set to 0. Inputs of experts not in `config.experts` are ignored. The checks of shapes, counts and
    capacities read only shapes (no host synchronisation, nothing that stops `torch.compile`); the checks of values
    are `check_expert_input_values`, run here when `check_values`.

    Returns:
        `dict` with every name of `EXPERT_INPUT_NAMES`, masks as booleans.

    Raises:
        `ValueError` naming both numbers for a frame / batch count that differs from the video, a keypoint count other
        than `config.num_keypoints`, more persons / objects / relations than the config allows, a listed expert with no
        input, and both background inputs at once; with `check_values`, those of `check_expert_input_values`.
    """
    unknown = set(inputs) - set(EXPERT_INPUT_NAMES)
    if unknown:
        raise ValueError(f"Unknown expert inputs {sorted(unknown)}; expected some of {list(EXPERT_INPUT_NAMES)}.")
    out = {name: None for name in EXPERT_INPUT_NAMES}
    experts = list(config.experts)
    for expert, required in EXPERT_REQUIRED_INPUTS.items():
        if expert not in experts:
            ignored = [name for name in EXPERT_OWNED_INPUTS[expert] if inputs.get(name) is not None]
            if ignored and not torch.compiler.is_compiling():
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
        pose_mask = _check_mask("pose_mask", inputs.get("pose_mask"), keypoints.shape[:3], keypoints.device)
        out["pose_keypoints"] = _zero_padding(keypoints, pose_mask)
        out["pose_mask"] = pose_mask

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
        _check_capacity("object_boxes", boxes.shape[2], "max_objects", config.max_objects)
        object_mask = _check_mask("object_mask", inputs.get("object_mask"), boxes.shape[:3], boxes.device)

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
        out.update(
            object_boxes=_zero_padding(boxes, object_mask), object_labels=labels.long(), object_mask=object_mask
        )
        out.update(relation_triplets=triplets.long(), relation_mask=relation_mask)

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
    if check_values:
        check_expert_input_values(config, out)
    return out


__all__ = ["EXPERT_INPUT_NAMES", "check_expert_input_values", "prepare_expert_inputs"]
