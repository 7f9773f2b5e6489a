# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The paper's own tools as optional backends: HigherHRNet through mmpose (poses) and Meta's `sam2` (background).

Both packages need torchvision (mmpose through mmcv), which has no CPU build next to this project's torch, so they are
never dependencies: each backend imports its package when it is constructed, through `require` (an `ImportError` that
names the package and how to install it), and its functions only by attribute. No `import mmpose` / `import sam2`
statement appears in this file, because transformers' remote-code loader refuses to load a module file whose
`import` statements name a package that is not installed, which would break the processor for every Hub user.

This file ships to the Hub as remote code: it imports only numpy and single-dot siblings; torch where it is used.
"""

import importlib.util
import os
import sys
import warnings

import numpy as np

from .extractor_background_sherlock import BoxPromptedBackgroundExtractor, blank_foreground
from .extractor_base_sherlock import (
    CLIP_MEAN_FILL,
    NUM_COCO_KEYPOINTS,
    FrameDetections,
    PoseExtractor,
    batches,
    check_detections,
    check_frames,
    check_positive,
    require,
    warn_capacity,
)


MMPOSE_HINT = (
    "build the paper-backends environment (`make paper-backends-env`: mmpose 0.29 with HigherHRNet, mmcv 1.7, torch + "
    "torchvision; README 'Running the paper's extractors'); mmpose needs torchvision, which the default install never "
    "has: there, use the 'vitpose' pose backend"
)
SAM2_HINT = (
    "build the paper-backends environment (`make paper-backends-env`: Meta's sam2 1.1 with torch + torchvision; README "
    "'Running the paper's extractors'); sam2 needs torchvision, which the default install never has: there, use the "
    "transformers-native 'sam2' background backend"
)
# A config shipped with the installed mmpose: `mmpose::configs/...` names `<mmpose package>/.mim/configs/...`. Saved
# processors keep the reference as it is (a config file copied alone would lose the `_base_` files it inherits from).
MMPOSE_CONFIG_PREFIX = "mmpose::"
# Bottom-up (whole-frame) mmpose models: mmpose 1.x's estimator and mmpose 0.x's HigherHRNet / associative embedding.
BOTTOM_UP_MODELS = ("BottomupPoseEstimator", "AssociativeEmbedding")


def _installed(name: str) -> bool:
    """Whether the package `name` can be imported (already imported, or found), without importing it."""
    if sys.modules.get(name) is not None:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # hidden (None in sys.modules) or a module without a spec
        return False


def _restore_numpy_aliases() -> None:
    """mmpose 0.29 and xtcocotools still use `np.int` / `np.float` / `np.bool`, which numpy 1.24 removed; HigherHRNet
    exists only in mmpose 0.x. Restore the aliases (to the builtins they always meant) only where they are missing and
    only when this backend is built with mmpose installed; they then stay on numpy for the rest of the process."""
    for name, value in (("int", int), ("float", float), ("bool", bool)):
        if name not in np.__dict__:
            setattr(np, name, value)


class HigherHRNetPoseExtractor(PoseExtractor):
    """The paper's pose backend: HigherHRNet through mmpose 0.x (or any mmpose 0.x / 1.x 2D body model). Optional.

    Args:
        config_path (`str`): the mmpose config file of the model, or one shipped with mmpose as
            `mmpose::configs/...` (its `.mim` folder), e.g. HigherHRNet-W32's
            `mmpose::configs/body/2d_kpt_sview_rgb_img/associative_embedding/coco/higherhrnet_w32_coco_512x512.py`
            (mmpose 0.29).
        checkpoint (`str`): path or URL of its checkpoint (`None`: mmpose's random initialisation, for tests).
        max_persons (`int`, *optional*, defaults to 8).
        device (`str`, *optional*, defaults to `"cpu"`).
        mode (`str`, *optional*, defaults to `"auto"`): `"bottomup"` runs `mmpose.apis.inference_bottomup` on the whole
            frame (HigherHRNet / associative-embedding models find the persons themselves; persons are ranked by mean
            keypoint score), `"topdown"` runs `inference_topdown` on the detector's person boxes, `"auto"` picks
            bottom-up for a `BottomupPoseEstimator` and top-down otherwise.
        min_score (`float`, *optional*, defaults to 0.0): detector score a person box needs (top-down mode).
        cfg_options (`dict`, *optional*): overrides of the config, as mmpose's `--cfg-options` (e.g.
            `{"model.test_cfg.detection_threshold": 0.05, "model.test_cfg.max_num_people": 8}`).

    Constructing it without mmpose raises `ImportError` with the install hint. It uses the public API of the installed
    mmpose: 0.x (`init_pose_model`, `inference_bottom_up_pose_model(model, img)`,
    `inference_top_down_pose_model(model, img, person_results, format="xyxy")`, results as dicts whose `keypoints`
    are (17, 3) x, y, score) or 1.x (`init_model`, `inference_bottomup`, `inference_topdown(..., bbox_format="xyxy")`,
    results in `PoseDataSample.pred_instances`). Frames go in as BGR arrays (what both read from an array); keypoints
    come back in pixels of the frame and leave normalised to it, exactly as the default backend's.
    """

    backend = "higherhrnet"

    def __init__(
        self,
        config_path: str,
        checkpoint: str | None,
        max_persons: int = 8,
        device: str = "cpu",
        mode: str = "auto",
        min_score: float = 0.0,
        cfg_options: dict | None = None,
    ):
        if _installed("mmpose"):
            _restore_numpy_aliases()  # before mmpose is imported: its modules use the aliases at import time
        self._apis = require("mmpose.apis", MMPOSE_HINT, type(self).__name__)
        self._legacy = not hasattr(self._apis, "init_model")  # mmpose 0.x (HigherHRNet)
        if mode not in ("auto", "bottomup", "topdown"):
            raise ValueError(f"`mode` must be 'auto', 'bottomup' or 'topdown', got {mode!r}.")
        self.config_path = str(config_path)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.max_persons = check_positive("max_persons", max_persons)
        self.device, self.mode, self.min_score = device, mode, float(min_score)
        self.cfg_options = dict(cfg_options or {})
        self._model = None

    @property
    def extractor_id(self) -> str:
        return (
            f"{self.backend}(config={self.config_path}, checkpoint={self.checkpoint}, mode={self.mode}, "
            f"max_persons={self.max_persons}, min_score={self.min_score:g}, cfg_options={sorted(self.cfg_options.items())})"
        )

    @property
    def model(self):
        """The mmpose model (`init_pose_model` / `init_model`, built on first access)."""
        if self._model is None:
            config = self.config_path
            if config.startswith(MMPOSE_CONFIG_PREFIX):
                package = require("mmpose", MMPOSE_HINT, type(self).__name__)
                config = os.path.join(os.path.dirname(package.__file__), ".mim", config[len(MMPOSE_CONFIG_PREFIX) :])
            if self._legacy:
                if self.cfg_options:
                    config = require("mmcv", MMPOSE_HINT, type(self).__name__).Config.fromfile(config)
                    config.merge_from_dict(self.cfg_options)
                self._model = self._apis.init_pose_model(config, self.checkpoint, device=self.device)
            else:
                options = {"cfg_options": self.cfg_options} if self.cfg_options else {}
                self._model = self._apis.init_model(config, self.checkpoint, device=self.device, **options)
        return self._model

    def _bottomup(self, model, image) -> tuple[np.ndarray, np.ndarray]:
        """`(keypoints (n, 17, 2) pixels, scores (n, 17))` of every person mmpose finds in the frame."""
        if self._legacy:
            results, _ = self._apis.inference_bottom_up_pose_model(model, image)
            points = np.asarray([r["keypoints"] for r in results], dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS, 3)
            return points[..., :2], points[..., 2]
        instances = self._apis.inference_bottomup(model, image)[0].pred_instances
        keypoints = np.asarray(instances.keypoints, dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS, 2)
        return keypoints, np.asarray(instances.keypoint_scores, dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS)

    def _topdown(self, model, image, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`(keypoints, scores)` of the persons in `boxes` (pixel xyxy), in their order."""
        if self._legacy and int(np.__version__.split(".")[0]) >= 2:
            # mmpose 0.x's top-down heads assign a 1-element array to an array element, which numpy 2 refuses
            raise RuntimeError(
                "mmpose 0.x top-down models do not run under numpy 2; use HigherHRNet (bottom-up, the paper's) or "
                "mmpose 1.x for top-down models"
            )
        if self._legacy:
            people = [{"bbox": np.asarray(box, dtype=np.float32)} for box in boxes]
            results, _ = self._apis.inference_top_down_pose_model(model, image, people, format="xyxy")
            points = np.asarray([r["keypoints"] for r in results], dtype=np.float32).reshape(-1, NUM_COCO_KEYPOINTS, 3)
            return points[..., :2], points[..., 2]
        samples = self._apis.inference_topdown(model, image, bboxes=boxes, bbox_format="xyxy")
        keypoints = np.concatenate([np.asarray(s.pred_instances.keypoints) for s in samples])
        scores = np.concatenate([np.asarray(s.pred_instances.keypoint_scores) for s in samples])
        return keypoints.astype(np.float32), scores

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> dict[str, np.ndarray]:
        frames = check_frames(frames)
        check_detections(detections, len(frames))
        output = self._empty(len(frames))
        model = self.model
        bottomup = self.mode == "bottomup" or (self.mode == "auto" and type(model).__name__ in BOTTOM_UP_MODELS)
        persons = None if bottomup else self._select_persons(detections, self.min_score)
        height, width = frames.shape[1:3]
        found = []
        for index, frame in enumerate(frames):
            image = np.ascontiguousarray(frame[..., ::-1])  # mmpose pipelines expect BGR (cv2) images
            if bottomup:
                keypoints, scores = self._bottomup(model, image)
                order = np.argsort(-scores.mean(axis=1), kind="stable")
                found.append(len(order))
                order = order[: self.max_persons]
                keypoints, scores = keypoints[order], scores[order]
            else:
                if len(persons[index]) == 0:
                    continue  # inference_topdown would treat the whole frame as one person
                boxes = detections[index].boxes[persons[index]] * np.array([width, height, width, height])
                keypoints, scores = self._topdown(model, image, boxes)
            if keypoints.shape[1:] != (NUM_COCO_KEYPOINTS, 2):
                raise ValueError(
                    f"The mmpose model returned keypoints of shape {keypoints.shape}; expected 17 (COCO)."
                )
            count = len(keypoints)
            output["pose_keypoints"][index, :count, :, 0] = np.clip(keypoints[..., 0] / width, 0.0, 1.0)
            output["pose_keypoints"][index, :count, :, 1] = np.clip(keypoints[..., 1] / height, 0.0, 1.0)
            output["pose_keypoints"][index, :count, :, 2] = np.clip(scores, 0.0, 1.0)
            output["pose_mask"][index, :count] = True
        if bottomup:
            warn_capacity(self, "persons", "max_persons", self.max_persons, found, "highest mean keypoint score")
        return output


class MetaSam2BackgroundExtractor(BoxPromptedBackgroundExtractor):
    """The paper's background backend: Meta's `sam2` package (`SAM2ImagePredictor`) with box prompts. Optional.

    Args:
        checkpoint (`str`): the SAM2 checkpoint (e.g. `sam2.1_hiera_tiny.pt`; `None`: random weights, for tests).
        model_cfg (`str`): its Hydra config name (e.g. `configs/sam2.1/sam2.1_hiera_t.yaml`).
        batch_size, device, min_score, max_boxes, mask_threshold, box_margin, fill_value: as `Sam2BackgroundExtractor`.

    Constructing it without `sam2` raises `ImportError` with the install hint. It is written against the public API
    (`build_sam2(model_cfg, checkpoint, device=...)`, `SAM2ImagePredictor(model, mask_threshold=...)`,
    `set_image_batch(list of HWC RGB uint8)` and `predict_batch(box_batch=[(n, 4) xyxy pixel boxes],
    multimask_output=False)`); its glue is tested against a stand-in `sam2`, and the real package is exercised only
    where it is installed.
    """

    backend = "meta_sam2"

    def __init__(
        self,
        checkpoint: str | None,
        model_cfg: str,
        batch_size: int = 4,
        device: str = "cpu",
        min_score: float = 0.0,
        max_boxes: int | None = None,
        mask_threshold: float = 0.0,
        box_margin: float = 0.1,
        fill_value: tuple = CLIP_MEAN_FILL,
    ):
        what = type(self).__name__
        self._build_sam = require("sam2.build_sam", SAM2_HINT, what)
        self._image_predictor = require("sam2.sam2_image_predictor", SAM2_HINT, what)
        super().__init__(batch_size, device, min_score, max_boxes, mask_threshold, box_margin, fill_value)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.model_cfg = str(model_cfg)
        self._predictor = None

    @property
    def extractor_id(self) -> str:
        return f"{self.backend}(checkpoint={self.checkpoint}, model_cfg={self.model_cfg}, {self._settings_id()})"

    @property
    def predictor(self):
        """The `SAM2ImagePredictor` (built on first access)."""
        if self._predictor is None:
            model = self._build_sam.build_sam2(self.model_cfg, self.checkpoint, device=self.device)
            with warnings.catch_warnings():
                # sam2 1.1 scripts its transforms with `torch.jit.script`, which torch 2.14 deprecates: sam2's to fix
                warnings.filterwarnings(
                    "ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning
                )
                self._predictor = self._image_predictor.SAM2ImagePredictor(model, mask_threshold=self.mask_threshold)
        return self._predictor

    def __call__(self, frames: np.ndarray, detections: list[FrameDetections]) -> np.ndarray:
        import torch

        frames = check_frames(frames)
        check_detections(detections, len(frames))
        output = frames.copy()
        prompts = self._prompts(detections)
        todo = [index for index, boxes in prompts.items() if len(boxes)]
        height, width = frames.shape[1:3]
        scale = np.array([width, height, width, height], dtype=np.float32)
        for batch in batches(todo, self.batch_size):
            predictor = self.predictor
            with torch.inference_mode():
                predictor.set_image_batch([np.ascontiguousarray(frames[index]) for index in batch])
                masks, _, _ = predictor.predict_batch(
                    box_batch=[prompts[index] * scale for index in batch], multimask_output=False
                )
            for index, frame_masks in zip(batch, masks, strict=True):
                # (n, 1, H, W) for several boxes, (1, H, W) for one: flatten to (n, H, W).
                frame_masks = np.asarray(frame_masks).reshape(-1, height, width) > 0
                output[index] = blank_foreground(
                    frames[index], frame_masks, prompts[index], self.box_margin, self.fill_value
                )
        return output


__all__ = [
    "MMPOSE_CONFIG_PREFIX",
    "MMPOSE_HINT",
    "SAM2_HINT",
    "HigherHRNetPoseExtractor",
    "MetaSam2BackgroundExtractor",
]
