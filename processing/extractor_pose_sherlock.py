# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The default pose backend: top-down ViTPose (`VitPoseForPoseEstimation`) on the detector's person boxes.

Pre- and post-processing are transformers' own, in their PIL/numpy form (no torchvision): `VitPoseImageProcessorPil`
crops every person box with its unbiased affine warp (box -> center / scale with the 1.25 padding, bilinear
`scipy.ndimage.affine_transform` to the model's input size), rescales and normalises; its
`post_process_pose_estimation` takes the heatmap argmax, applies the DARK refinement (Gaussian kernel `dark_kernel`)
and maps the keypoints back to frame pixels. Both need **scipy** (imported by transformers, not here).

This file ships to the Hub as remote code: it imports only the standard library, numpy, transformers and single-dot
siblings; torch, scipy and the model classes are imported where they are used, and models load on first use.
"""

import numpy as np

from .extractor_base_sherlock import (
    NUM_COCO_KEYPOINTS,
    FrameDetections,
    PoseExtractor,
    batches,
    check_detections,
    check_frames,
    check_positive,
    require,
)


_SCIPY_HINT = "pip install scipy (transformers' VitPoseImageProcessorPil crops and refines with scipy.ndimage)"


def coco_pixel_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Normalised `(x1, y1, x2, y2)` boxes -> COCO `(x, y, w, h)` boxes in frame pixels, at least 1 pixel wide / high.

    A degenerate (zero-size) box would give ViTPose a zero scale, i.e. an infinite warp.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4) * [width, height, width, height]
    sizes = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
    return np.concatenate([boxes[:, :2], sizes], axis=1)


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
        dark_kernel (`int`, *optional*, defaults to 11): Gaussian kernel size of the DARK refinement
            (`post_process_pose_estimation(kernel_size=...)`).

    Keypoints are the processor's `post_process_pose_estimation` output normalised by the frame width / height and
    clipped to [0, 1] (a keypoint predicted outside the frame lands on its border); scores are the heatmap maxima
    clipped to [0, 1]. A keypoint whose heatmap has no positive value (score <= 0; the processor marks its argmax
    invalid) is all zero: it has no position. For ViTPose++ checkpoints (`num_experts > 1`) the COCO head
    (`dataset_index` 0) is used.
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
        self.max_persons = check_positive("max_persons", max_persons)
        self.batch_size = check_positive("batch_size", batch_size)
        self.device = device
        self.min_score = float(min_score)
        self.dark_kernel = check_positive("dark_kernel", dark_kernel)
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
        """The `VitPoseImageProcessorPil` that crops and post-processes (loaded on first access; needs scipy)."""
        if self._processor is None:
            require("scipy.ndimage", _SCIPY_HINT, f"{type(self).__name__} (transformers' VitPoseImageProcessorPil)")
            from transformers import VitPoseImageProcessorPil

            self._processor = VitPoseImageProcessorPil.from_pretrained(self.model_name_or_path)
        return self._processor

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]:
        frames = check_frames(frames)
        check_detections(detections, len(frames))
        output = self._empty(len(frames))
        persons = self._select_persons(detections, self.min_score)
        frame_height, frame_width = frames.shape[1:3]
        # (frame index, slot, COCO xywh box in pixels), in frame order then slot order
        jobs = []
        for index, selected in enumerate(persons):
            for slot, box in enumerate(coco_pixel_boxes(detections[index].boxes[selected], frame_height, frame_width)):
                jobs.append((index, slot, box.tolist()))
        if not jobs:
            return output

        import torch
        from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

        model, processor = self.model, self.processor
        num_experts = getattr(model.config.backbone_config, "num_experts", 1)
        for batch in batches(jobs, self.batch_size):
            # The processor takes images and, per image, its boxes: group the batch's crops by frame (order kept).
            boxes: dict[int, list] = {}
            for frame_index, _, box in batch:
                boxes.setdefault(frame_index, []).append(box)
            inputs = processor(
                images=[frames[frame_index] for frame_index in boxes],
                boxes=list(boxes.values()),
                return_tensors="pt",
                input_data_format="channels_last",
                do_convert_rgb=False,
            )
            kwargs = {}
            if num_experts > 1:
                kwargs["dataset_index"] = torch.zeros(len(batch), dtype=torch.long, device=self.device)
            with torch.inference_mode():
                pixel_values = inputs["pixel_values"].to(self.device, dtype=model.dtype)
                heatmaps = model(pixel_values=pixel_values, **kwargs).heatmaps
            results = processor.post_process_pose_estimation(
                VitPoseEstimatorOutput(heatmaps=heatmaps.float().cpu()),
                boxes=list(boxes.values()),
                kernel_size=self.dark_kernel,
            )
            flat = [result for frame_results in results for result in frame_results]
            for (frame_index, slot, _), result in zip(batch, flat, strict=True):
                points = result["keypoints"].numpy().astype(np.float64)
                scores = result["scores"].numpy().astype(np.float64).reshape(-1)
                keypoints = output["pose_keypoints"][frame_index, slot]
                keypoints[:, 0] = np.clip(points[:, 0] / frame_width, 0.0, 1.0)
                keypoints[:, 1] = np.clip(points[:, 1] / frame_height, 0.0, 1.0)
                keypoints[:, 2] = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, 1.0)
                keypoints[~(scores > 0)] = 0.0  # no positive heatmap value: no position
                output["pose_mask"][frame_index, slot] = True
        return output


__all__ = ["ViTPoseExtractor", "coco_pixel_boxes"]
