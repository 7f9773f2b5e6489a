# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The default background backend: SAM2 (`Sam2Model`) masks prompted by the detected boxes, the foreground blanked.

Preprocessing without torchvision: transformers' `Sam2ImageProcessor` imports torchvision at module level
(`torchvision.ops.boxes.batched_nms`), so it cannot even be imported here, and it has no PIL backend.
`Sam2BackgroundExtractor` therefore reads `preprocessor_config.json` (size, mean, std, rescale factor) and reproduces
the image path itself: bilinear antialiased resize of the whole frame to the model's square input (no
aspect-preserving pad in SAM2), rescale, normalise; boxes scaled to that input like `Sam2Processor` does; low-res mask
logits upsampled bilinearly to the frame and thresholded like `post_process_masks`.

`BoxPromptedBackgroundExtractor` (prompt selection, mask clipping, fill) is shared with the paper's Meta `sam2`
backend (`extractor_paper_sherlock.py`).

This file ships to the Hub as remote code: it imports only the standard library, numpy, transformers and single-dot
siblings; torch and the model class are imported where they are used, and models load on first use.
"""

import json
import math
import os
from typing import TYPE_CHECKING

import numpy as np

from .extractor_base_sherlock import (
    CLIP_MEAN_FILL,
    IMAGENET_DEFAULT_MEAN,
    IMAGENET_DEFAULT_STD,
    BackgroundExtractor,
    FrameDetections,
    batches,
    check_detections,
    check_frames,
    check_positive,
    warn_capacity,
)


if TYPE_CHECKING:
    import torch


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


def read_preprocessor_config(model_name_or_path: str) -> dict:
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


class BoxPromptedBackgroundExtractor(BackgroundExtractor):
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
        self.batch_size = check_positive("batch_size", batch_size)
        self.device = device
        self.min_score = float(min_score)
        self.max_boxes = None if max_boxes is None else check_positive("max_boxes", max_boxes)
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
        """Per frame, the normalised prompt boxes (highest scores first, at most `max_boxes`; warns when cut)."""
        selected = [np.flatnonzero(d.scores >= self.min_score) for d in detections]
        if self.max_boxes is not None:
            found = [len(keep) for keep in selected]
            warn_capacity(self, "boxes", "max_boxes", self.max_boxes, found, "best-scoring")
            selected = [keep[: self.max_boxes] for keep in selected]
        return {index: detections[index].boxes[keep] for index, keep in enumerate(selected)}


class Sam2BackgroundExtractor(BoxPromptedBackgroundExtractor):
    """SAM2 (`Sam2Model`) masks prompted by every detected box; the foreground is blanked.

    Args:
        model_name_or_path (`str`, *optional*, defaults to `"facebook/sam2.1-hiera-tiny"`): Hub id or local folder.
        batch_size (`int`, *optional*, defaults to 4): frames per forward pass (only frames with detections run).
        device (`str`, *optional*, defaults to `"cpu"`).
        min_score (`float`, *optional*, defaults to 0.0): detector score a box needs to be a prompt.
        max_boxes (`int`, *optional*): prompts per frame, highest scores first (`None`: all detections); boxes beyond
            it are dropped with a warning that gives the counts.
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
            settings = read_preprocessor_config(self.model_name_or_path)
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

    def pixel_values(self, frames: np.ndarray) -> "torch.Tensor":
        """SAM2's image preprocessing of uint8 `(B, H, W, 3)` frames -> float `(B, 3, S_h, S_w)`."""
        import torch
        import torch.nn.functional as F

        prep = self.preprocessing
        images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        images = F.interpolate(images, size=prep["size"], mode="bilinear", align_corners=False, antialias=True)
        # torchvision resizes the uint8 frames to uint8: round the same way before rescaling.
        images = images.round().clamp(0, 255) * prep["rescale_factor"]
        mean = torch.tensor(prep["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(prep["std"], dtype=torch.float32).view(1, 3, 1, 1)
        return (images - mean) / std

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> np.ndarray:
        frames = check_frames(frames)
        check_detections(detections, len(frames))
        output = frames.copy()
        prompts = self._prompts(detections)
        todo = [index for index, boxes in prompts.items() if len(boxes)]
        if not todo:
            return output

        import torch
        import torch.nn.functional as F

        model = self.model
        input_height, input_width = self.preprocessing["size"]
        height, width = frames.shape[1:3]
        for batch in batches(todo, self.batch_size):
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


__all__ = ["BoxPromptedBackgroundExtractor", "Sam2BackgroundExtractor", "blank_foreground", "read_preprocessor_config"]
