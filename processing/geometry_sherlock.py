# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Boxes and keypoints in the frame the model sees.

The extractors work on the full decoded frame, so their boxes `(x1, y1, x2, y2)` and keypoints `(x, y)` are normalised
to the FULL frame. The video tower sees something else: the CLIP-style image processor resizes the frame (shortest
edge) and centre-crops it, and the object-relation expert places the patch centres in that crop. On a 16:9 video the
crop drops about a fifth of the width on each side, so full-frame coordinates would put a box on the wrong patches and
let objects the model never sees unmask patches. This module is the one place that maps expert arrays into the
cropped view:

    window = view_window(1080, 1920, size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    window.x0, window.x1        # 87 / 398 and 311 / 398: the part of the frame's width the model sees
    arrays = map_expert_arrays(arrays, window)

- boxes are mapped and clipped to the crop; a box with no area inside it is masked (`object_mask` False, padding
  zeros), and so is every relation whose subject or object is masked (`relation_mask` False);
- keypoints are mapped; one outside the crop gets score 0 and is clamped to its border; a person with no keypoint left
  inside the crop is masked (`pose_mask` False, padding zeros).

The arithmetic reproduces transformers' image processors exactly: resize to `shortest_edge` with the long side
`int(shortest_edge * long / short)` (or to `height` x `width`, `shortest_edge` + `longest_edge`, `max_height` x
`max_width`), then a centre crop whose top-left corner is `((resized - crop) // 2)` in resized pixels (negative when
the crop pads a small image). A pixel-edge coordinate `x` in [0, 1] of the full frame is at `x * resized_width` after
the resize, so in the crop it is `(x * resized_width - left) / crop_width`.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings (it needs only the standard library and numpy).
"""

from dataclasses import dataclass

import numpy as np


# Tolerance, in view coordinates, of the inside / outside tests: the arrays are float32 (about 6e-8 relative), so a
# point on the crop's border may land a hair outside it, and a box that only touches the border from outside a hair
# inside; both are settled as if they were exact.
EDGE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ViewWindow:
    """The part of a full frame that the model sees, as a map from full-frame to view coordinates.

    A full-frame normalised coordinate `x` maps to `(x * scale_x - offset_x) / crop_width` (and `y` likewise), with
    `scale_x` the resized width and `offset_x` the crop's left edge, both in resized pixels.

    Attributes:
        scale_x, scale_y (`int`): the size (width, height) of the resized frame in pixels.
        offset_x, offset_y (`int`): the crop's top-left corner in the resized frame (negative when the crop pads).
        crop_width, crop_height (`int`): the size of the crop (the view) in pixels.
    """

    scale_x: int
    scale_y: int
    offset_x: int
    offset_y: int
    crop_width: int
    crop_height: int

    @property
    def x0(self) -> float:
        """Left edge of the view in full-frame normalised coordinates."""
        return self.offset_x / self.scale_x

    @property
    def x1(self) -> float:
        """Right edge of the view in full-frame normalised coordinates."""
        return (self.offset_x + self.crop_width) / self.scale_x

    @property
    def y0(self) -> float:
        """Top edge of the view in full-frame normalised coordinates."""
        return self.offset_y / self.scale_y

    @property
    def y1(self) -> float:
        """Bottom edge of the view in full-frame normalised coordinates."""
        return (self.offset_y + self.crop_height) / self.scale_y

    def map_x(self, x: np.ndarray) -> np.ndarray:
        """Full-frame normalised x → view normalised x (float64, not clipped)."""
        return (np.asarray(x, dtype=np.float64) * self.scale_x - self.offset_x) / self.crop_width

    def map_y(self, y: np.ndarray) -> np.ndarray:
        """Full-frame normalised y → view normalised y (float64, not clipped)."""
        return (np.asarray(y, dtype=np.float64) * self.scale_y - self.offset_y) / self.crop_height


def _size_value(size, key: str):
    """`size[key]` for a dict, a transformers `SizeDict` or an object with that attribute (`None` when absent)."""
    if size is None:
        return None
    if isinstance(size, dict):
        value = size.get(key)
    else:
        value = getattr(size, key, None)
    return None if value is None else int(value)


def _check_frame_size(height, width) -> tuple[int, int]:
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"A frame needs a positive height and width, got {height} x {width}.")
    return height, width


def resized_size(height: int, width: int, size, default_to_square: bool = False) -> tuple[int, int]:
    """`(height, width)` of a `height` x `width` frame after transformers' `resize` with `size`.

    `size` is a dict or `SizeDict` with `shortest_edge` (and optionally `longest_edge`), `height` and `width`, or
    `max_height` and `max_width`; an `int` is a shortest edge (a square side with `default_to_square`).
    """
    height, width = _check_frame_size(height, width)
    if isinstance(size, int) and not isinstance(size, bool):
        size = {"height": size, "width": size} if default_to_square else {"shortest_edge": size}
    shortest, longest = _size_value(size, "shortest_edge"), _size_value(size, "longest_edge")
    if shortest and longest:
        # transformers.image_transforms.get_size_with_aspect_ratio
        raw_size = None
        if max(height, width) / min(height, width) * shortest > longest:
            raw_size = longest * min(height, width) / max(height, width)
            shortest = int(round(raw_size))
        if (height <= width and height == shortest) or (width <= height and width == shortest):
            return height, width
        if width < height:
            long_side = raw_size * height / width if raw_size is not None else shortest * height / width
            return int(long_side), shortest
        long_side = raw_size * width / height if raw_size is not None else shortest * width / height
        return shortest, int(long_side)
    if shortest:
        # transformers.image_transforms.get_resize_output_image_size(default_to_square=False)
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = shortest, int(shortest * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    max_height, max_width = _size_value(size, "max_height"), _size_value(size, "max_width")
    if max_height and max_width:
        scale = min(max_height / height, max_width / width)
        return int(height * scale), int(width * scale)
    new_height, new_width = _size_value(size, "height"), _size_value(size, "width")
    if new_height and new_width:
        return new_height, new_width
    raise ValueError(f"Cannot tell the resized frame size from the image processor's size {size!r}.")


def view_window(
    height: int,
    width: int,
    size=None,
    crop_size=None,
    do_resize: bool = True,
    do_center_crop: bool = True,
    default_to_square: bool = False,
) -> ViewWindow:
    """The view of a `height` x `width` frame after resize (`size`) and centre crop (`crop_size`).

    Example (a 1920 x 1080 frame through CLIP's 224 preprocessing):

    ```python
    >>> w = view_window(1080, 1920, size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    >>> (w.scale_x, w.offset_x, w.crop_width), (w.scale_y, w.offset_y, w.crop_height)
    ((398, 87, 224), (224, 0, 224))

    ```
    """
    height, width = _check_frame_size(height, width)
    if do_resize and size is not None:
        new_height, new_width = resized_size(height, width, size, default_to_square=default_to_square)
    else:
        new_height, new_width = height, width
    if do_center_crop and crop_size is not None:
        if isinstance(crop_size, int) and not isinstance(crop_size, bool):
            crop_height = crop_width = crop_size
        else:
            crop_height, crop_width = _size_value(crop_size, "height"), _size_value(crop_size, "width")
        if not crop_height or not crop_width:
            raise ValueError(f"A centre crop needs a height and a width, got crop_size {crop_size!r}.")
    else:
        crop_height, crop_width = new_height, new_width
    # transformers.image_transforms.center_crop: top = (height - crop_height) // 2, also when it pads (negative)
    return ViewWindow(
        scale_x=new_width,
        scale_y=new_height,
        offset_x=(new_width - crop_width) // 2,
        offset_y=(new_height - crop_height) // 2,
        crop_width=crop_width,
        crop_height=crop_height,
    )


def image_processor_window(image_processor, height: int, width: int, side: int | None = None) -> ViewWindow:
    """The view of a `height` x `width` frame through `image_processor`'s real settings (`size`, `crop_size`,
    `do_resize`, `do_center_crop`); with `side`, through the square `side` resize-and-crop that the processor uses
    for the background frames (`size={"shortest_edge": side}`, `crop_size=side x side`)."""
    if side is not None:
        return view_window(height, width, size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    return view_window(
        height,
        width,
        size=getattr(image_processor, "size", None),
        crop_size=getattr(image_processor, "crop_size", None),
        do_resize=bool(getattr(image_processor, "do_resize", True)),
        do_center_crop=bool(getattr(image_processor, "do_center_crop", True)),
        default_to_square=bool(getattr(image_processor, "default_to_square", False)),
    )


def map_boxes(boxes: np.ndarray, mask: np.ndarray, window: ViewWindow) -> tuple[np.ndarray, np.ndarray]:
    """Boxes `(..., 4)` (x1, y1, x2, y2 normalised to the full frame) and their mask `(...)` in the view.

    Returns `(boxes, mask)`: boxes clipped to the view; a box with no area inside the view (less than
    `EDGE_TOLERANCE` of width or height) is masked and zeroed (the padding convention), like the boxes that were
    masked already.
    """
    boxes = np.asarray(boxes)
    mask = np.asarray(mask, dtype=bool)
    if boxes.shape[-1:] != (4,) or boxes.shape[:-1] != mask.shape:
        raise ValueError(f"Boxes of shape {boxes.shape} do not match their mask of shape {mask.shape}.")
    x1, x2 = window.map_x(boxes[..., 0]), window.map_x(boxes[..., 2])
    y1, y2 = window.map_y(boxes[..., 1]), window.map_y(boxes[..., 3])
    tol = EDGE_TOLERANCE
    inside = (np.minimum(x2, 1.0) - np.maximum(x1, 0.0) > tol) & (np.minimum(y2, 1.0) - np.maximum(y1, 0.0) > tol)
    new_mask = mask & inside
    mapped = np.clip(np.stack([x1, y1, x2, y2], axis=-1), 0.0, 1.0)
    mapped[~new_mask] = 0.0
    return mapped.astype(boxes.dtype if np.issubdtype(boxes.dtype, np.floating) else np.float32), new_mask


def map_keypoints(keypoints: np.ndarray, mask: np.ndarray, window: ViewWindow) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints `(..., persons, K, 3)` (x, y normalised to the full frame, score) and their person mask `(...,
    persons)` in the view.

    Returns `(keypoints, mask)`: a keypoint outside the view (beyond a border by more than `EDGE_TOLERANCE`) gets
    score 0 and is clamped to the border; a person with no keypoint left inside the view is masked and zeroed, like the persons that were masked
    already.
    """
    keypoints = np.asarray(keypoints)
    mask = np.asarray(mask, dtype=bool)
    if keypoints.shape[-1:] != (3,) or keypoints.shape[:-2] != mask.shape:
        raise ValueError(f"Keypoints of shape {keypoints.shape} do not match their mask of shape {mask.shape}.")
    x, y = window.map_x(keypoints[..., 0]), window.map_y(keypoints[..., 1])
    tol = EDGE_TOLERANCE
    inside = (x >= -tol) & (x <= 1.0 + tol) & (y >= -tol) & (y <= 1.0 + tol)
    score = np.where(inside, np.asarray(keypoints[..., 2], dtype=np.float64), 0.0)
    new_mask = mask & inside.any(axis=-1)
    mapped = np.stack([np.clip(x, 0.0, 1.0), np.clip(y, 0.0, 1.0), score], axis=-1)
    mapped[~new_mask] = 0.0
    dtype = keypoints.dtype if np.issubdtype(keypoints.dtype, np.floating) else np.float32
    return mapped.astype(dtype), new_mask


def mask_relations(
    triplets: np.ndarray, relation_mask: np.ndarray, object_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mask (and zero) the relations `(..., R, 3)` whose subject or object is masked in `object_mask` `(..., K)`."""
    triplets = np.asarray(triplets)
    relation_mask = np.asarray(relation_mask, dtype=bool)
    object_mask = np.asarray(object_mask, dtype=bool)
    num_objects = object_mask.shape[-1]
    if num_objects == 0:
        return np.zeros_like(triplets), np.zeros_like(relation_mask)
    subjects = np.clip(triplets[..., 0], 0, num_objects - 1).astype(np.int64)
    objects = np.clip(triplets[..., 2], 0, num_objects - 1).astype(np.int64)
    valid = np.take_along_axis(object_mask, subjects, axis=-1) & np.take_along_axis(object_mask, objects, axis=-1)
    new_mask = relation_mask & valid
    triplets = triplets.copy()
    triplets[~new_mask] = 0
    return triplets, new_mask


def map_expert_arrays(arrays: dict[str, np.ndarray], window: ViewWindow) -> dict[str, np.ndarray]:
    """The expert arrays of one clip (or a batch) in the view: `object_boxes` / `object_mask` / `object_labels`,
    `relation_triplets` / `relation_mask` and `pose_keypoints` / `pose_mask` are mapped as described in the module
    docstring; every other array is returned as it is. The input dict is not modified."""
    out = dict(arrays)
    if "object_boxes" in out and "object_mask" in out:
        out["object_boxes"], out["object_mask"] = map_boxes(out["object_boxes"], out["object_mask"], window)
        if "object_labels" in out:
            labels = np.array(out["object_labels"], copy=True)
            labels[~out["object_mask"]] = 0
            out["object_labels"] = labels
        if "relation_triplets" in out and "relation_mask" in out:
            out["relation_triplets"], out["relation_mask"] = mask_relations(
                out["relation_triplets"], out["relation_mask"], out["object_mask"]
            )
    if "pose_keypoints" in out and "pose_mask" in out:
        out["pose_keypoints"], out["pose_mask"] = map_keypoints(out["pose_keypoints"], out["pose_mask"], window)
    return out


def frame_size_of(frames) -> tuple[int, int] | None:
    """`(height, width)` of decoded frames `(T, H, W, 3)`, or `None` for a probed clip (frames of size 0 x 0)."""
    shape = getattr(frames, "shape", None)
    if shape is None or len(shape) < 3 or not shape[1] or not shape[2]:
        return None
    return int(shape[1]), int(shape[2])


__all__ = [
    "EDGE_TOLERANCE",
    "ViewWindow",
    "frame_size_of",
    "image_processor_window",
    "map_boxes",
    "map_expert_arrays",
    "map_keypoints",
    "mask_relations",
    "resized_size",
    "view_window",
]
