# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The object detector of the expert extractors: RT-DETR (`RTDetrForObjectDetection`), run once per clip.

Preprocessing without torchvision: `RTDetrImageProcessorPil` is transformers' PIL/numpy backend of the RT-DETR image
processor (`AutoImageProcessor` also resolves a saved RT-DETR processor to it when torchvision is absent); it is used
as is, with its `post_process_object_detection`.

This file ships to the Hub as remote code: it imports only the standard library, numpy, transformers and single-dot
siblings; torch and the model classes are imported where they are used, and models load on first use.
"""

from collections.abc import Mapping

import numpy as np

from .extractor_base_sherlock import FrameDetections, ObjectDetector, batches, check_frames, check_positive


def find_person_label(id2label: Mapping[int, str] | None, label2id: Mapping[str, int] | None) -> int | None:
    """The class id named "person" (case-insensitive) in a detector config, or `None`."""
    if label2id and "person" in label2id:
        return int(label2id["person"])
    for index, name in (id2label or {}).items():
        if str(name).lower() == "person":
            return int(index)
    return None


def box_iou(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of every box of `boxes` `(n, 4)` with every box of `others` `(m, 4)`, both `x1, y1, x2, y2`: `(n, m)`."""
    boxes, others = np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(others, np.float64).reshape(-1, 4)
    top_left = np.maximum(boxes[:, None, :2], others[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], others[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0.0, None).prod(-1)
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)  # noqa: E731
    union = area(boxes)[:, None] + area(others)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def class_nms(boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy per-class non-maximum suppression: the indices of the kept boxes, by decreasing score (ties: the earlier
    box first). A box is dropped when its IoU with a kept box of the same label is above `iou`."""
    labels, scores = np.asarray(labels).reshape(-1), np.asarray(scores, np.float64).reshape(-1)
    overlaps = box_iou(boxes, boxes)
    keep: list[int] = []
    for index in np.argsort(-scores, kind="stable"):
        if not any(labels[k] == labels[index] and overlaps[k, index] > iou for k in keep):
            keep.append(int(index))
    return np.asarray(keep, dtype=np.int64)


class RTDetrObjectDetector(ObjectDetector):
    """RT-DETR (`RTDetrForObjectDetection` + `RTDetrImageProcessorPil`), frames batched through the model.

    Args:
        model_name_or_path (`str`, *optional*, defaults to `"PekingU/rtdetr_r50vd"`): Hub id or local folder holding the
            model and its `preprocessor_config.json`.
        threshold (`float`, *optional*, defaults to 0.5): detections need `score > threshold` (the processor's
            `post_process_object_detection` rule; 1.0 or more keeps nothing, 0.0 keeps all `num_queries`).
        batch_size (`int`, *optional*, defaults to 8): frames per forward pass.
        device (`str`, *optional*, defaults to `"cpu"`): where the model runs.
        nms_iou (`float`, *optional*): when set, per-class non-maximum suppression after the threshold
            (`class_nms`): a box whose IoU with a higher-scoring kept box of the same class is above `nms_iou` is
            dropped. `None` (default) keeps RT-DETR's output as it is.

    RT-DETR is NMS-free by design: the post-processing takes the top `num_queries` (query, class) scores, so one box
    may appear with two classes when both pass the threshold. A well-trained RT-DETR gives one query per object; a
    small or briefly trained one (the demo's) gives several queries to the same object, and each copy then takes a
    person slot of the pose expert and an object of the scene graph: `nms_iou` removes them.
    """

    backend = "rt_detr"

    def __init__(
        self,
        model_name_or_path: str = "PekingU/rtdetr_r50vd",
        threshold: float = 0.5,
        batch_size: int = 8,
        device: str = "cpu",
        nms_iou: float | None = None,
    ):
        self.model_name_or_path = str(model_name_or_path)
        self.threshold = float(threshold)
        if nms_iou is not None and not 0.0 <= float(nms_iou) <= 1.0:
            raise ValueError(f"RTDetrObjectDetector: nms_iou must lie in [0, 1] (or be None), got {nms_iou!r}")
        self.nms_iou = None if nms_iou is None else float(nms_iou)
        self.batch_size = check_positive("batch_size", batch_size)
        self.device = device
        self._model = None
        self._processor = None
        self._config = None

    @property
    def extractor_id(self) -> str:
        nms = "" if self.nms_iou is None else f", nms_iou={self.nms_iou:g}"  # absent when off: earlier ids stay valid
        return f"{self.backend}(model={self.model_name_or_path}, threshold={self.threshold:g}{nms})"

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
        return find_person_label(self.id2label, self.config.label2id)

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
        import torch

        frames = check_frames(frames)
        if len(frames) == 0:
            return []
        model, processor = self.model, self.processor
        person, id2label = self.person_label_id, self.id2label
        detections = []
        for batch in batches(list(frames), self.batch_size):
            inputs = processor(images=batch, return_tensors="pt", input_data_format="channels_last")
            pixel_values = inputs["pixel_values"].to(self.device, dtype=model.dtype)
            with torch.inference_mode():
                outputs = model(pixel_values=pixel_values)
                # Without `target_sizes` the boxes stay relative (x1, y1, x2, y2 in [0, 1] of the frame).
                results = processor.post_process_object_detection(outputs, threshold=self.threshold)
            for result in results:
                boxes = result["boxes"].float().cpu().numpy()
                labels = result["labels"].cpu().numpy()
                scores = result["scores"].float().cpu().numpy()
                if self.nms_iou is not None:
                    # on the boxes the other parts get (`FrameDetections` clips them to the frame)
                    keep = class_nms(np.clip(boxes, 0.0, 1.0), labels, scores, self.nms_iou)
                    boxes, labels, scores = boxes[keep], labels[keep], scores[keep]
                detections.append(
                    FrameDetections(
                        boxes=boxes,
                        labels=labels,
                        scores=scores,
                        person_label_id=person,
                        id2label=id2label,
                    )
                )
        return detections


__all__ = ["RTDetrObjectDetector", "box_iou", "class_nms", "find_person_label"]
