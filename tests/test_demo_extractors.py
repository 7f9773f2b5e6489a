"""The demo's extractors trained on the synthetic renderer's ground truth (`sherlock/demo_extractors/`, issue 21 item
4): they load from the repository through the processor's `build_extractors` and, on frames of a seed they never saw,
find the persons, their keypoints and the foreground, where the random tiny extractors find none of them; and the
training command (`python -m sherlock.extractor_training`) trains, measures, saves and resumes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from processing.extractor_detector_sherlock import box_iou
from processing.extractors_sherlock import CLIP_MEAN_FILL, build_extractors
from sherlock.extractor_training.data import COCO_CLASSES, render_samples
from sherlock.tiny_extractors import (
    TRAINED_DETECTOR_NMS_IOU,
    TRAINED_EXTRACTORS_DIR,
    tiny_extractor_settings,
    trained_extractor_models,
    trained_extractor_settings,
)


UNSEEN_SEED = 2026  # trained on seed 0, measured on seed 1
# The bars the shipped extractors must clear on the unseen frames (their held-out figures are in
# `sherlock/demo_extractors/training_record.json`; on these frames they score 0.96, 0.92, 0.73, where the previous ones,
# with the detector of 3,000 steps, scored 0.80, 0.76, 0.67); the random tiny extractors score 0.0, 0.0, 0.02.
PERSON_RECALL_MIN, PCK_MIN, MASK_IOU_MIN = 0.9, 0.85, 0.7


@pytest.fixture(scope="module")
def unseen_samples():
    return [sample for sample in render_samples(UNSEEN_SEED, 12, per_video=2) if len(sample.persons)]


def pipeline_scores(settings, samples) -> dict:
    """Person recall (box IoU > 0.5), PCK@0.1 (of the person box's larger side; unmatched persons count as misses)
    and foreground IoU of the extractors built from `settings`, on `samples`."""
    output = build_extractors(settings).extract(np.stack([sample.frame for sample in samples]))
    person = COCO_CLASSES.index("person")
    found = hits = visible = 0
    persons = 0
    ious = []
    for f, sample in enumerate(samples):
        height, width = sample.frame.shape[:2]
        kept = output["object_mask"][f] & (output["object_labels"][f] == person)
        # in score order = the pose slots' order; persons beyond the slots have no keypoints (counted as misses)
        detected = output["object_boxes"][f][kept][: output["pose_keypoints"].shape[1]]
        for index in sample.persons:
            persons += 1
            truth = sample.keypoints[index]
            visible += int((truth[:, 2] > 0).sum())
            if not len(detected):
                continue
            overlaps = box_iou(sample.boxes[index][None], detected)[0]
            slot = int(overlaps.argmax())
            if overlaps[slot] <= 0.5:
                continue
            found += 1
            x1, y1, x2, y2 = sample.boxes[index] * [width, height, width, height]
            predicted = output["pose_keypoints"][f, slot, :, :2]
            distance = np.hypot(*((predicted - truth[:, :2]) * [width, height]).T)
            hits += int((distance[truth[:, 2] > 0] <= 0.1 * max(x2 - x1, y2 - y1)).sum())
        blanked = (output["background_frames"][f] == np.array(CLIP_MEAN_FILL, np.uint8)).all(-1)
        ious.append((blanked & sample.mask).sum() / max((blanked | sample.mask).sum(), 1))
    return {"person_recall": found / persons, "pck": hits / max(visible, 1), "mask_iou": float(np.mean(ious))}


def test_shipped_extractors_are_complete_and_small():
    paths = trained_extractor_models()
    assert set(paths) == {"rt_detr", "vitpose", "sam2"}
    total = sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(TRAINED_EXTRACTORS_DIR)
                for name in names)  # fmt: skip
    assert total < 5_000_000
    with open(os.path.join(paths["rt_detr"], "config.json"), encoding="utf-8") as handle:
        id2label = json.load(handle)["id2label"]
    assert id2label["0"] == "person" and id2label["1"] == "bicycle" and id2label["67"] == "cell phone"  # COCO-80 ids


def test_shipped_extractors_see_persons_keypoints_and_foreground_on_an_unseen_seed(unseen_samples):
    scores = pipeline_scores(trained_extractor_settings(), unseen_samples)
    assert scores["person_recall"] >= PERSON_RECALL_MIN, scores
    assert scores["pck"] >= PCK_MIN, scores
    assert scores["mask_iou"] >= MASK_IOU_MIN, scores


def duplicate_persons(settings, samples) -> tuple[int, int]:
    """(person boxes found, of which duplicates: boxes overlapping a higher-scoring person box by more than
    `TRAINED_DETECTOR_NMS_IOU`)."""
    detections = build_extractors(settings).detector.detect(np.stack([sample.frame for sample in samples]))
    person = COCO_CLASSES.index("person")
    found = duplicates = 0
    for frame in detections:
        boxes = frame.boxes[frame.labels == person]  # by decreasing score
        overlaps = np.triu(box_iou(boxes, boxes), k=1)
        found += len(boxes)
        duplicates += int((overlaps > TRAINED_DETECTOR_NMS_IOU).any(axis=0).sum())
    return found, duplicates


def test_shipped_detector_settings_remove_the_duplicate_persons(unseen_samples):
    # the trained RT-DETR gives some persons two queries (each would take a pose slot); the shipped settings'
    # per-class NMS removes them and keeps the recall (checked by the test above)
    settings = trained_extractor_settings()
    assert settings["detector"]["nms_iou"] == TRAINED_DETECTOR_NMS_IOU
    raw = {**settings, "detector": {k: v for k, v in settings["detector"].items() if k != "nms_iou"}}
    found, duplicates = duplicate_persons(raw, unseen_samples)
    assert duplicates >= 1, (found, duplicates)  # 2 of 26 (the detector of 3,000 steps: 9 of 33)
    found_nms, duplicates_nms = duplicate_persons(settings, unseen_samples)
    # greedy NMS compares with the kept boxes only, so a box overlapping only a dropped one stays: at least
    # found - duplicates remain
    assert duplicates_nms == 0 and found - duplicates <= found_nms < found, (found_nms, found, duplicates)


def test_random_tiny_extractors_fail_the_same_bars(unseen_samples):
    # the checks above can fail: the random extractors the demo used before score below every bar
    scores = pipeline_scores(tiny_extractor_settings(threshold=0.15), unseen_samples)
    assert scores["person_recall"] < PERSON_RECALL_MIN, scores
    assert scores["pck"] < PCK_MIN, scores
    assert scores["mask_iou"] < MASK_IOU_MIN, scores


def test_training_command_help_answers_without_torch():
    code = "import sys; from sherlock.extractor_training.__main__ import main; main(['--help'])"
    result = subprocess.run([sys.executable, "-c", code + "\n"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "--output-dir" in result.stdout
    probe = "import sys, sherlock.extractor_training.__main__; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "False"


def test_training_command_rejects_the_training_seed_as_held_out(tmp_path, capsys):
    from sherlock.extractor_training.__main__ import main

    assert main(["--output-dir", str(tmp_path), "--seed", "3", "--eval-seed", "3"]) == 2
    assert "--eval-seed must differ" in capsys.readouterr().err


def test_training_command_smoke_trains_saves_measures_and_resumes(tmp_path, capsys):
    from safetensors.torch import load_file

    from sherlock.extractor_training.__main__ import main
    from sherlock.extractor_training.detector import build_detector
    from sherlock.extractor_training.pose import build_pose
    from sherlock.extractor_training.segmenter import build_segmenter

    arguments = ["--output-dir", str(tmp_path), "--train-frames", "6", "--detector-train-frames", "5",
                 "--pose-train-frames", "8", "--eval-frames", "3", "--detector-steps", "2", "--pose-steps", "2",
                 "--segmenter-steps", "2", "--threads", "1"]  # fmt: skip
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "box mAP@0.5" in printed and "PCK@0.1" in printed and "mask IoU" in printed
    record = json.loads((tmp_path / "training_record.json").read_text())
    assert {part: entry["train_frames"] for part, entry in record["parts"].items()} == {
        "detector": 5,
        "pose": 8,
        "segmenter": 6,
    }
    fresh = {"detector": build_detector(0)[0], "pose": build_pose(0)[0], "segmenter": build_segmenter(0)}
    for part, model in fresh.items():
        folder = tmp_path / part
        for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
            assert (folder / name).is_file(), (part, name)
        assert record["parts"][part]["steps"] == 2
        metric = next(iter(record["parts"][part]["metrics"].values()))
        assert 0.0 <= metric <= 1.0
        saved = load_file(str(folder / "model.safetensors"))
        initial = model.state_dict()
        changed = [key for key, value in saved.items() if key in initial and not torch.equal(value, initial[key])]
        assert changed, f"{part}: training changed no weight"
    per_keypoint = record["parts"]["pose"]["metrics"]["pck@0.1_per_keypoint"]
    assert len(per_keypoint) == 17 and "left_wrist" in per_keypoint
    # a second run keeps the finished models
    assert main(arguments) == 0
    assert capsys.readouterr().err.count("already trained") == 3
    # other pose frames retrain the pose model alone
    pose_frames = arguments.index("--pose-train-frames") + 1
    assert main([*arguments[:pose_frames], "7", *arguments[pose_frames + 1 :]]) == 0
    err = capsys.readouterr().err
    assert err.count("already trained") == 2 and "pose: already trained" not in err
    assert json.loads((tmp_path / "training_record.json").read_text())["parts"]["pose"]["train_frames"] == 7


@pytest.mark.parametrize("part, steps, lr", [("pose", 15, 2e-3), ("segmenter", 30, 5e-3)])
def test_training_lowers_the_loss_on_its_batch(part, steps, lr):
    from sherlock.extractor_training import pose, segmenter
    from sherlock.extractor_training.common import train_loop

    torch.manual_seed(0)
    samples = [sample for sample in render_samples(5, 4) if len(sample.persons)][:2]
    if part == "pose":
        model, processor = pose.build_pose(0)
        pixels, targets, weights = pose.pose_crops(model, processor, samples, copies=1)

        def loss_fn(step=0):
            return pose.heatmap_loss(model(pixel_values=pixels).heatmaps, targets, weights) * 1000.0

    else:
        model = segmenter.build_segmenter(0)
        frame = samples[0]
        preprocess_boxes = torch.from_numpy(frame.boxes)[None] * segmenter.SEGMENTER_SIDE
        target = torch.from_numpy(segmenter.box_mask_targets(frame))
        from processing.extractors_sherlock import Sam2BackgroundExtractor

        extractor = Sam2BackgroundExtractor.__new__(Sam2BackgroundExtractor)
        extractor._preprocessing = {"size": (segmenter.SEGMENTER_SIDE,) * 2, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
                                    "rescale_factor": 1 / 255}  # fmt: skip
        pixels = extractor.pixel_values(frame.frame[None])

        def loss_fn(step=0):
            masks = model(pixel_values=pixels, input_boxes=preprocess_boxes, multimask_output=False).pred_masks
            logits = torch.nn.functional.interpolate(masks[:, :, 0], size=frame.mask.shape, mode="bilinear")
            return segmenter.segmentation_loss(logits[0], target)

    model.eval()
    with torch.no_grad():
        before = float(loss_fn())
    train_loop(model, loss_fn, steps=steps, lr=lr)
    with torch.no_grad():
        after = float(loss_fn())
    assert after < 0.9 * before, (before, after)


def test_segmenter_mask_logits_are_finer_than_the_frames():
    # SAM 2's logits are a quarter of its input side; at 256 they were 64x64 for 128x96 frames, which bounds the mask
    # IoU of 1-2 pixel limbs (the true masks through a 64x64 grid reach 0.80)
    from sherlock.extractor_training.segmenter import SEGMENTER_SIDE, build_segmenter

    sample = render_samples(5, 1)[0]
    model = build_segmenter(0).eval()
    boxes = torch.from_numpy(sample.boxes[:1])[None] * SEGMENTER_SIDE
    with torch.no_grad():
        masks = model(pixel_values=torch.zeros(1, 3, SEGMENTER_SIDE, SEGMENTER_SIDE), input_boxes=boxes,
                      multimask_output=False).pred_masks  # fmt: skip
    height, width = sample.frame.shape[:2]
    assert masks.shape[-2] >= height and masks.shape[-1] >= width, masks.shape
    with open(
        os.path.join(trained_extractor_models()["sam2"], "preprocessor_config.json"), encoding="utf-8"
    ) as handle:
        assert json.load(handle)["size"]["height"] == SEGMENTER_SIDE  # the shipped one is trained at that side


def test_shipped_extractors_finished_the_default_schedules():
    # the shipped record is what `python -m sherlock.extractor_training --output-dir DIR` reproduces: every model ran
    # its whole default schedule (the first detector had stopped by the time limit at 2,137 of 3,000 steps)
    from sherlock.extractor_training.__main__ import build_parser, part_frames

    defaults = build_parser().parse_args(["--output-dir", "unused"])
    with open(os.path.join(TRAINED_EXTRACTORS_DIR, "training_record.json"), encoding="utf-8") as handle:
        record = json.load(handle)
    for part in ("detector", "pose", "segmenter"):
        entry = record["parts"][part]
        assert not entry["stopped_early"] and entry["steps"] == getattr(defaults, f"{part}_steps"), (part, entry)
        assert entry["train_frames"] == part_frames(defaults, part), (part, entry)
    assert record["settings"] == {key: getattr(defaults, key) for key in ("seed", "eval_seed", "eval_frames")}
