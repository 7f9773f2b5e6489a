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
        self.batch_size = check_positive("batch_size", batch_size)
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


__all__ = ["RTDetrObjectDetector", "find_person_label"]
