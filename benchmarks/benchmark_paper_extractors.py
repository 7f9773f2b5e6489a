# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Per-frame time of the paper's extractors against the transformers-native defaults, at real model sizes with random
weights, on the same frames (CPU). Runs in the paper-backends environment (`make paper-backends-env`):

    .venv-paper/bin/python benchmarks/benchmark_paper_extractors.py [--frames 4] [--size 640x480]

- poses: HigherHRNet-W32 (mmpose 0.29, bottom-up, 512 x 512, the config mmpose ships) against ViTPose-base
  (transformers, top-down, 256 x 192) on the person boxes of RT-DETR-R50 (transformers, 640 x 640); the ViTPose figure
  includes the detector, which it needs and HigherHRNet does not;
- background: Meta's SAM 2 hiera-tiny (`sam2` 1.1, its packaged config) against transformers' `Sam2Model` with the
  same hiera-tiny sizes, both prompted by the same 8 boxes per frame.

Random weights: detections, keypoints and masks are meaningless, and the work per frame is the real one except
where it depends on what is found (RT-DETR keeps its 8 best boxes here, HigherHRNet groups what its threshold
keeps). Each model is loaded and run once on one frame before timing; the figure is the mean over `--frames`.
"""

import argparse
import os
import tempfile
import time

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of the frames")
    parser.add_argument("--boxes", type=int, default=8, help="detections kept per frame (SAM 2 prompts, persons)")
    return parser.parse_args(argv)


def make_frames(count: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 / width, ys * 255 / height, (xs + ys) * 127 / (width + height)], axis=-1)
    return np.clip(base[None] + rng.integers(-30, 30, (count, height, width, 3)), 0, 255).astype(np.uint8)


def build_models(root: str) -> dict[str, str]:
    """Random RT-DETR-R50, ViTPose-base and SAM 2 hiera-tiny (transformers' default configs) with their processors."""
    import torch
    from transformers import (
        RTDetrConfig,
        RTDetrForObjectDetection,
        RTDetrImageProcessorPil,
        Sam2Config,
        Sam2Model,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessorPil,
    )

    from sherlock.tiny_extractors import write_sam2_preprocessor_config

    torch.manual_seed(0)
    paths = {name: os.path.join(root, name) for name in ("rt_detr", "vitpose", "sam2")}
    labels = {0: "person", 1: "car"}
    RTDetrForObjectDetection(
        RTDetrConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    ).save_pretrained(paths["rt_detr"])
    RTDetrImageProcessorPil().save_pretrained(paths["rt_detr"])
    VitPoseForPoseEstimation(VitPoseConfig(num_labels=17)).save_pretrained(paths["vitpose"])
    VitPoseImageProcessorPil().save_pretrained(paths["vitpose"])
    Sam2Model(Sam2Config()).save_pretrained(paths["sam2"])
    write_sam2_preprocessor_config(paths["sam2"], 1024)  # hiera-tiny's input
    return paths


def per_frame(run, frames) -> float:
    """Seconds per frame of `run(frames)` after a warm-up on the first frame (the model loads there)."""
    run(frames[:1])
    start = time.perf_counter()
    run(frames)
    return (time.perf_counter() - start) / len(frames)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from processing.extractor_paper_sherlock import HigherHRNetPoseExtractor, MetaSam2BackgroundExtractor
    from processing.extractors_sherlock import (
        FrameDetections,
        RTDetrObjectDetector,
        Sam2BackgroundExtractor,
        ViTPoseExtractor,
    )

    width, height = (int(v) for v in args.size.split("x"))
    frames = make_frames(args.frames, width, height)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="sherlock-paper-bench-") as root:
        paths = build_models(root)
        detector = RTDetrObjectDetector(paths["rt_detr"], threshold=0.0)

        def detect(clip):
            # the best `--boxes` of each frame, all as persons: the pose and mask work of a busy frame
            return [
                FrameDetections(
                    f.boxes[: args.boxes],
                    np.zeros(min(args.boxes, len(f.boxes))),
                    f.scores[: args.boxes],
                    0,
                    f.id2label,
                )
                for f in detector.detect(clip)
            ]

        detections = detect(frames)
        vitpose = ViTPoseExtractor(paths["vitpose"], max_persons=args.boxes)
        figures["RT-DETR-R50 (detector)"] = per_frame(detect, frames)
        figures["ViTPose-base on RT-DETR-R50 (default pose)"] = figures["RT-DETR-R50 (detector)"] + per_frame(
            lambda clip: vitpose(clip, detections[: len(clip)]), frames
        )
        higherhrnet = HigherHRNetPoseExtractor(
            "mmpose::configs/body/2d_kpt_sview_rgb_img/associative_embedding/coco/higherhrnet_w32_coco_512x512.py",
            None,
            max_persons=args.boxes,
        )
        figures["HigherHRNet-W32 (mmpose 0.29, paper)"] = per_frame(
            lambda clip: higherhrnet(clip, detections[: len(clip)]), frames
        )
        transformers_sam2 = Sam2BackgroundExtractor(paths["sam2"], max_boxes=args.boxes)
        figures["SAM 2 hiera-tiny (transformers Sam2Model, default)"] = per_frame(
            lambda clip: transformers_sam2(clip, detections[: len(clip)]), frames
        )
        meta_sam2 = MetaSam2BackgroundExtractor(None, "configs/sam2.1/sam2.1_hiera_t.yaml", max_boxes=args.boxes)
        figures["SAM 2 hiera-tiny (Meta sam2 1.1, paper)"] = per_frame(
            lambda clip: meta_sam2(clip, detections[: len(clip)]), frames
        )
    print(f"{args.frames} frames of {width}x{height}, {args.boxes} boxes per frame, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; seconds per frame:")  # fmt: skip
    for name, seconds in figures.items():
        print(f"  {name}: {seconds:.2f}")
    return figures


if __name__ == "__main__":
    main()
