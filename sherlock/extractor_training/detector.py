"""The demo detector: a small `RTDetrForObjectDetection` (COCO-80 classes) trained on rendered frames with its own
loss (transformers' RT-DETR loss: Hungarian matching, varifocal classification, L1 + GIoU boxes, denoising queries),
measured by box mAP@0.5 with pycocotools through the processor's own extractor (`RTDetrObjectDetector`)."""

import numpy as np
import torch

from .common import train_loop
from .data import COCO_CLASSES, Sample


DETECTOR_SIZE = {"height": 96, "width": 128}
# The backbone's stages of strides 8, 16 and 32 feed the encoder. Strides 4, 8 and 16 (`stage1`-`stage3`, for the
# ~3x4-pixel phones and ~7x9 handbags of a 128x96 frame) were measured too, 3,000 steps: mAP@0.5 0.499 (phone 0.0002,
# handbag 0.004, truck 0.65 instead of 0.95): the small items stay unlearned and the large ones lose the coarse map.
STAGES = ["stage2", "stage3", "stage4"]


def build_detector(seed: int = 0, num_queries: int = 20, num_denoising: int = 50):
    """A fresh small RT-DETR (ResNet basic-block backbone of widths 16-64 whose stages of strides 8, 16 and 32 feed the
    encoder, d_model 48, 2 decoder layers, COCO-80 ids, 96x128 input) and its PIL image processor."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessorPil, RTDetrResNetConfig

    torch.manual_seed(seed)
    hidden = [16, 24, 48, 64]
    backbone = RTDetrResNetConfig(
        embedding_size=16, hidden_sizes=hidden, depths=[1, 1, 1, 1], layer_type="basic",
        out_features=STAGES,
    )  # fmt: skip
    config = RTDetrConfig(
        backbone_config=backbone,
        encoder_in_channels=[hidden[int(s[-1]) - 1] for s in STAGES],
        feat_strides=[2 ** (int(s[-1]) + 1) for s in STAGES],
        encoder_hidden_dim=48,
        encoder_ffn_dim=96,
        encoder_attention_heads=4,
        encoder_layers=1,
        hidden_expansion=0.5,
        d_model=48,
        decoder_in_channels=[48, 48, 48],
        decoder_ffn_dim=96,
        decoder_attention_heads=4,
        decoder_layers=2,
        num_queries=num_queries,
        num_denoising=num_denoising,
        id2label=dict(enumerate(COCO_CLASSES)),
        label2id={name: index for index, name in enumerate(COCO_CLASSES)},
    )
    return RTDetrForObjectDetection(config), RTDetrImageProcessorPil(size=dict(DETECTOR_SIZE))


def detection_targets(sample: Sample) -> dict:
    """RT-DETR's training target of a sample: `class_labels` and `boxes` (normalised centre x, y, width, height)."""
    boxes = sample.boxes.astype(np.float32)
    centre_size = np.concatenate([(boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]], axis=1)
    return {"class_labels": torch.from_numpy(sample.labels.copy()), "boxes": torch.from_numpy(centre_size)}


def train_detector(model, processor, samples: list[Sample], steps: int, batch_size: int = 16, lr: float = 2e-3,
                   **loop) -> dict:  # fmt: skip
    """Train the detector on `samples` (random batches of `batch_size`, horizontal flips); `loop`: `train_loop`
    options (checkpoint, time_limit, progress)."""
    frames = np.stack([sample.frame for sample in samples])
    pixels = processor(images=list(frames), return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    targets = [detection_targets(sample) for sample in samples]

    def loss_fn(step):
        batch = torch.randint(len(samples), (batch_size,))
        flip = torch.rand(batch_size) < 0.5
        images = pixels[batch].clone()
        images[flip] = images[flip].flip(-1)
        labels = []
        for index, flipped in zip(batch.tolist(), flip.tolist()):
            target = {key: value.clone() for key, value in targets[index].items()}
            if flipped:
                target["boxes"][:, 0] = 1.0 - target["boxes"][:, 0]
            labels.append(target)
        return model(pixel_values=images, labels=labels).loss

    return train_loop(model, loss_fn, steps, lr, **loop)


def coco_ground_truth(samples: list[Sample]) -> dict:
    """The samples' boxes as a COCO detection dataset (pixel `x, y, w, h`; categories = the classes present)."""
    images, annotations = [], []
    for image_id, sample in enumerate(samples):
        height, width = sample.frame.shape[:2]
        images.append({"id": image_id, "width": width, "height": height})
        for box, label in zip(sample.boxes, sample.labels):
            x1, y1, x2, y2 = (box * [width, height, width, height]).tolist()
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})  # fmt: skip
    present = sorted({int(label) for sample in samples for label in sample.labels})
    categories = [{"id": label, "name": COCO_CLASSES[label]} for label in present]
    return {"images": images, "annotations": annotations, "categories": categories}


def box_map50(samples: list[Sample], detections) -> dict:
    """Box mAP@0.5 (pycocotools `COCOeval`, IoU 0.5, all areas, 100 detections) of `detections` (`FrameDetections`
    per sample) against the samples' boxes, with the AP@0.5 of each class present."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = coco_ground_truth(samples)
    results = []
    for image_id, (sample, found) in enumerate(zip(samples, detections)):
        height, width = sample.frame.shape[:2]
        for box, label, score in zip(found.boxes, found.labels, found.scores):
            x1, y1, x2, y2 = (np.asarray(box, np.float64) * [width, height, width, height]).tolist()
            results.append({"image_id": image_id, "category_id": int(label), "bbox": [x1, y1, x2 - x1, y2 - y1],
                            "score": float(score)})  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = truth
        coco.createIndex()
        if not results:
            return {"map50": 0.0, "per_class": {c["name"]: 0.0 for c in truth["categories"]}}
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.array([0.5])
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, :, 0, -1]  # (recall thresholds, classes) at area all, 100 dets
    per_class = {}
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, k]
        per_class[COCO_CLASSES[category]] = float(values[values > -1].mean()) if (values > -1).any() else 0.0
    return {"map50": float(np.mean(list(per_class.values()))), "per_class": per_class}


def evaluate_detector(folder: str, samples: list[Sample], threshold: float = 0.01) -> dict:
    """mAP@0.5 of the detector saved in `folder`, run through `RTDetrObjectDetector` (the processor's extractor)."""
    from processing.extractors_sherlock import RTDetrObjectDetector

    detector = RTDetrObjectDetector(folder, threshold=threshold, batch_size=32)
    return box_map50(samples, detector.detect(np.stack([sample.frame for sample in samples])))


__all__ = [
    "DETECTOR_SIZE",
    "box_map50",
    "build_detector",
    "coco_ground_truth",
    "detection_targets",
    "evaluate_detector",
    "train_detector",
]
