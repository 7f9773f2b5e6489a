"""Stage 1's data path (`sherlock.training.stage1`): an image becomes a static clip, a HumanML3D motion a stick-figure
clip whose pose input (the motion's own joints, mapped to COCO-17) waits in the feature cache for exactly the frames the
processor samples; a missing media file is a clear error naming the row and the path."""

import json
import logging
import math
import re

import numpy as np
import pytest
from PIL import Image

from dataset_scripts.pretune_sources import convert_ref_l4
from processing import FeatureCache, SherlockProcessor, load_video, video_content_hash
from processing.extractors_sherlock import CLIP_MEAN_FILL
from sherlock.tiny_models import build_tiny_sherlock
from sherlock.training.stage1 import (
    FIGURE_COLOR,
    MOTION_EXTRACTOR_IDS,
    PERSON_LABEL,
    ClipSettings,
    MissingMediaError,
    Stage1Converter,
    parse_media_roots,
    recover_from_ric,
    rewrite_region_text,
)


NUM_FRAMES = 4
SETTINGS = ClipSettings(motion_size=96, max_image_side=96)
# COCO keypoint -> SMPL-22 joint (HumanML3D order): nose = head, shoulders, elbows, wrists, hips, knees, ankles.
COCO_BODY = {0: 15, 5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
# A standing SMPL-22 skeleton in metres (Y up, facing +Z; the person's left at +X).
SKELETON = np.array(
    [
        [0.0, 0.95, 0.0], [0.09, 0.88, 0.0], [-0.09, 0.88, 0.0], [0.0, 1.05, 0.0], [0.1, 0.5, 0.02],
        [-0.1, 0.5, 0.02], [0.0, 1.2, 0.0], [0.1, 0.08, -0.02], [-0.1, 0.08, -0.02], [0.0, 1.3, 0.0],
        [0.1, 0.02, 0.1], [-0.1, 0.02, 0.1], [0.0, 1.48, 0.0], [0.07, 1.42, 0.0], [-0.07, 1.42, 0.0],
        [0.0, 1.62, 0.03], [0.18, 1.4, 0.0], [-0.18, 1.4, 0.0], [0.28, 1.15, 0.0], [-0.28, 1.15, 0.0],
        [0.32, 0.9, 0.05], [-0.32, 0.9, 0.05],
    ]
)  # fmt: skip


def smooth_motion(frames: int = 50, seed: int = 0) -> np.ndarray:
    """A random smooth (T, 22, 3) motion at 20 fps: limbs swinging (random sines per joint) while walking."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / 20.0
    amplitude = rng.uniform(0.0, 0.08, size=(1, 22, 3))
    frequency = rng.uniform(0.3, 1.2, size=(1, 22, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 22, 3))
    walk = np.concatenate([0.4 * t, 0.0 * t, 0.25 * t], axis=-1)
    return SKELETON[None] + amplitude * np.sin(2 * np.pi * frequency * t + phase) + walk


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    folder = build_tiny_sherlock(
        tmp_path_factory.mktemp("stage1_model"), extractors={"backend": "precomputed"}, num_frames=NUM_FRAMES
    )
    processor = SherlockProcessor.from_pretrained(folder)
    processor.feature_cache_dir = str(tmp_path_factory.mktemp("stage1_cache"))
    return processor


@pytest.fixture(scope="module")
def humanml3d(tmp_path_factory):
    """A HumanML3D root with one motion, `new_joints/000021.npy`."""
    root = tmp_path_factory.mktemp("HumanML3D")
    (root / "new_joints").mkdir()
    joints = smooth_motion()
    np.save(root / "new_joints" / "000021.npy", joints.astype(np.float32))
    return root, joints.astype(np.float32).astype(np.float64)


def motion_row(start=0.5, end=2.0, media="new_joints/000021.npy"):
    return {
        "source": "humanml3d",
        "id": "000021#0",
        "media": media,
        "media_type": "motion",
        "start": start,
        "end": end,
        "instruction": "Judge the action of the characters",
        "answer": "a person walks forward swinging their arms",
    }


def test_an_image_becomes_a_static_clip_of_identical_frames(processor, tmp_path):
    y, x = np.mgrid[0:60, 0:90]
    image = np.stack([x * 2.8, y * 4.2, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    image[20:40, 30:60] = (220, 40, 40)
    (tmp_path / "coco").mkdir()
    Image.fromarray(image).save(tmp_path / "coco" / "000001.png")
    row = {"source": "coco_captions", "id": "7", "media": "000001.png", "media_type": "image"}
    row.update(instruction="Describe the image", answer="a red box on a gradient")
    converter = Stage1Converter(
        processor, tmp_path / "work", parse_media_roots([f"coco_captions={tmp_path / 'coco'}"])
    )
    converted = converter.convert_row(row)  # (`convert` wants extractors that can run on it: see the last test)
    assert converted == {
        **{key: row[key] for key in ("instruction", "answer", "source", "id")},
        "video": converted["video"],
    }

    clip = load_video(converted["video"], num_frames=NUM_FRAMES)
    every = load_video(converted["video"], num_frames=1000)  # all frames (fewer than asked: all, once each)
    assert len(every.timestamps) == 8 and every.duration == pytest.approx(2.0)  # 2 s at 4 fps
    assert clip.frames.shape == (NUM_FRAMES, 60, 90, 3)
    assert all(np.array_equal(frame, every.frames[0]) for frame in every.frames)  # a static clip
    assert np.abs(every.frames[0].astype(int) - image).mean() < 6  # the image (through yuv420p)

    # content-addressed: a second run reuses the clip, another image is another clip
    mtime = converter.image_clip(row).stat().st_mtime_ns
    assert converter.convert_row(row) == converted
    assert converter.image_clip(row).stat().st_mtime_ns == mtime
    noise = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)  # the hardest case to encode
    Image.fromarray(noise).save(tmp_path / "coco" / "000002.png")
    other = converter.image_clip({**row, "media": "000002.png"})
    assert other != converter.image_clip(row)
    frames = load_video(str(other), num_frames=1000).frames
    assert len(frames) == 8 and all(np.array_equal(frame, frames[0]) for frame in frames)


def test_ref_l4_regions_are_written_in_the_model_view_and_rows_outside_it_left_out(
    processor, tmp_path, monkeypatch, caplog
):
    """A 4:3 image: the model sees its centre crop, so a Ref-L4 box in the prompt is in the crop's coordinates, and a
    row whose box lies (mostly) in the cropped-away margin is left out with one warning."""
    # 96 x 72 frame through the tiny processor (shortest edge 32, crop 32 x 32): resized to 42 x 32, the crop's left
    # edge at (42 - 32) // 2 = 5 resized pixels, so a full-frame x maps to (x * 42 - 5) / 32 (y is not cropped).
    image = np.full((72, 96, 3), (90, 120, 90), np.uint8)
    image[18:54, 36:72] = (230, 20, 20)  # the red object the inside row describes
    root = tmp_path / "Ref-L4"
    (root / "images").mkdir(parents=True)
    Image.fromarray(image).save(root / "images" / "a.png")
    boxes = {
        "inside": [36, 18, 36, 36],
        "margin": [0, 10, 4, 20],
        "mostly_out": [2, 30, 12, 10],
        "half_in": [4, 40, 20, 20],
    }
    records = [
        {"id": name, "caption": f"the {name} thing", "bbox": bbox, "width": 96, "height": 72, "file_name": "a.png"}
        for name, bbox in boxes.items()
    ]
    (root / "ref-l4-val.jsonl").write_text("\n".join(json.dumps(record) for record in records))
    rows = {row["id"]: row for row in convert_ref_l4(root).rows}  # what sherlock-build-pretune writes
    assert rows["inside"]["instruction"] == "Describe the image region [0.375, 0.250, 0.750, 0.750]"  # full image

    converter = Stage1Converter(processor, tmp_path / "work", parse_media_roots([f"ref_l4={root}"]))

    def view_x(x):
        return (x * 42 - 5) / 32

    def box_in(instruction):
        (text,) = re.findall(r"\[([^]]*)\]", instruction)
        return [float(value) for value in text.split(", ")]

    inside = converter.convert_row(rows["inside"])
    assert inside["instruction"].startswith("Describe the image region [")
    expected = [view_x(0.375), 0.25, view_x(0.75), 0.75]
    np.testing.assert_allclose(box_in(inside["instruction"]), expected, atol=5e-4 + 1e-9)
    assert re.fullmatch(r"Describe the image region \[\d\.\d{3}(, \d\.\d{3}){3}\]", inside["instruction"])
    # the box is where the model sees the object: the red pixels of the crop the image processor makes of the clip
    frame = load_video(inside["video"], num_frames=1).frames[0]
    crop = processor.image_processor(images=frame, return_tensors="np")["pixel_values"][0]  # (3, 32, 32), normalised
    rows_red, cols_red = np.nonzero((crop[0] > 1.0) & (crop[1] < 0.0))
    seen = [cols_red.min() / 32, rows_red.min() / 32, (cols_red.max() + 1) / 32, (rows_red.max() + 1) / 32]
    np.testing.assert_allclose(seen, expected, atol=1.6 / 32)
    # a box whose left part is cut away is clipped to the crop's edge (more than half of it is seen)
    half_in = converter.convert_row(rows["half_in"])
    np.testing.assert_allclose(box_in(half_in["instruction"]), [0.0, 0.556, view_x(0.25), 0.833], atol=5e-4)
    # boxes in the margin (all of it, or all but a sliver) are left out: no row, no clip
    assert converter.convert_row(rows["margin"]) is None and converter.convert_row(rows["mostly_out"]) is None
    # a box in the text without `regions` cannot be mapped: one clear error, not a prompt in the wrong coordinates
    with pytest.raises(ValueError, match=r"ref_l4:inside: its instruction .* has a box but the row has no `regions`"):
        converter.convert_row({**rows["inside"], "regions": []})

    monkeypatch.setattr(type(processor), "is_precomputed", property(lambda self: False))  # (`convert` checks it)
    with caplog.at_level(logging.WARNING, logger="sherlock.training.stage1"):
        converted = converter.convert(list(rows.values()), progress=False)
    assert [row["id"] for row in converted] == ["inside", "half_in"]
    (warning,) = [record.getMessage() for record in caplog.records if "left out" in record.getMessage()]
    assert "left out 2 of 4 rows" in warning and "ref_l4:margin, ref_l4:mostly_out" in warning
    assert len(list((tmp_path / "work" / "clips").rglob("*.mp4"))) == 1  # one image, one clip


def test_region_text_keeps_its_decimals_and_each_region_finds_its_own_box():
    text = "Compare [0.10, 0.20, 0.30, 0.40] with [0.5, 0.5, 0.9, 0.9] and [0.10, 0.20, 0.30, 0.40]"
    regions = [[0.5, 0.5, 0.9, 0.9], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]]
    mapped = [[0.45, 0.5, 1.0, 0.9], [0.0, 0.2, 0.123, 0.4], [0.0, 0.2, 0.123, 0.4]]
    assert rewrite_region_text(text, regions, mapped) == (
        "Compare [0.00, 0.20, 0.12, 0.40] with [0.5, 0.5, 1.0, 0.9] and [0.00, 0.20, 0.12, 0.40]"
    )
    with pytest.raises(ValueError, match=r"does not contain its region \[0\.7, 0\.2, 0\.3, 0\.4\]"):
        rewrite_region_text(text, [[0.7, 0.2, 0.3, 0.4]], [[0.0, 0.0, 1.0, 1.0]])


def test_a_motion_becomes_a_stick_figure_clip_with_its_joints_as_pose_input(processor, humanml3d, tmp_path):
    root, joints = humanml3d
    converter = Stage1Converter(
        processor,
        tmp_path / "work",
        parse_media_roots([f"humanml3d={root}"]),
        capacities={"max_persons": 3, "max_objects": 5, "max_relations": 6},
        settings=SETTINGS,
    )
    (converted,) = converter.convert([motion_row()], progress=False)
    path = converted["video"]
    clip = load_video(path, num_frames=NUM_FRAMES)
    assert clip.duration == pytest.approx(1.5) and clip.frames.shape[1:] == (96, 96, 3)
    cached = FeatureCache(processor.feature_cache_dir).load(video_content_hash(path), clip.timestamps)
    assert cached["pose_keypoints"].shape == (NUM_FRAMES, 3, 17, 3)
    assert cached["pose_mask"].tolist() == [[True, False, False]] * NUM_FRAMES
    keypoints = cached["pose_keypoints"][:, 0]
    assert (keypoints[..., 2] == 1).all() and (keypoints[..., :2] > 0).all() and (keypoints[..., :2] < 1).all()

    # the cached keypoints are the motion's joints at the sampled times (segment start + clip time), mapped to COCO,
    # turned 30° about the vertical and projected (x, -y): up to one scale and offset for the whole segment
    times = 0.5 + clip.timestamps
    expected = np.stack(
        [
            np.stack([np.interp(times * 20, np.arange(len(joints)), joints[:, smpl, axis]) for axis in range(3)], -1)
            for smpl in COCO_BODY.values()
        ],
        axis=1,
    )  # (frames, 13, 3)
    yaw = math.radians(30)
    u = math.cos(yaw) * expected[..., 0] + math.sin(yaw) * expected[..., 2]
    v = -expected[..., 1]
    observed = keypoints[:, list(COCO_BODY), :2] * 96  # pixels
    design = np.concatenate(
        [
            np.stack([u.ravel(), np.ones(u.size), np.zeros(u.size)], -1),
            np.stack([v.ravel(), np.zeros(v.size), np.ones(v.size)], -1),
        ]
    )
    target = np.concatenate([observed[..., 0].ravel(), observed[..., 1].ravel()])
    (scale, offset_x, offset_y), *_ = np.linalg.lstsq(design, target, rcond=None)
    assert scale > 10 and np.abs(design @ [scale, offset_x, offset_y] - target).max() < 0.05
    face = keypoints[:, 1:5, :2] - keypoints[:, :1, :2]
    assert (np.linalg.norm(face, axis=-1) < 0.1).all() and (face[:, :2, 1] < 0).all()  # eyes above the nose

    # the figure is drawn where its keypoints are, in the very frames the processor samples
    for frame, points in zip(clip.frames, observed):
        brightness = frame.astype(float).mean(axis=-1)  # the figure is dark on a light ground (chroma is blurred)
        darkest = [brightness[int(y) - 1 : int(y) + 2, int(x) - 1 : int(x) + 2].min() for x, y in points]
        assert max(darkest) < 100 < brightness[0, 0]
    # one person object around the figure, no relation, the background without the figure
    assert cached["object_mask"].tolist() == [[True, False, False, False, False]] * NUM_FRAMES
    assert (cached["object_labels"][:, 0] == PERSON_LABEL).all() and not cached["relation_mask"].any()
    boxes = cached["object_boxes"][:, 0]
    assert (boxes[:, :2] <= keypoints[..., :2].min(axis=1)).all() and (
        boxes[:, 2:] >= keypoints[..., :2].max(axis=1)
    ).all()
    background = cached["background_frames"]
    assert background.shape == (NUM_FRAMES, 96, 96, 3)
    assert (background == CLIP_MEAN_FILL).all(axis=-1).any(axis=(1, 2)).all()
    assert not (np.abs(background.astype(int) - FIGURE_COLOR).max(axis=-1) < 40).any()

    # what the model gets: the processor returns these poses (a square frame: the model's view is the whole frame)
    inputs = processor(videos=path, return_tensors="np")
    np.testing.assert_allclose(inputs["pose_keypoints"][0], cached["pose_keypoints"], atol=1e-6)
    assert inputs["pixel_values_videos"].shape[1] == NUM_FRAMES

    # the entry is saved under the stage-1 motion ids (the precomputed backend reads a clip's only entry)
    assert FeatureCache(processor.feature_cache_dir).contains(
        video_content_hash(path), clip.timestamps, MOTION_EXTRACTOR_IDS
    )


def test_a_short_segment_still_gives_num_frames_frames(processor, humanml3d, tmp_path):
    root, _ = humanml3d
    converter = Stage1Converter(processor, tmp_path, parse_media_roots([str(root.parent)]), settings=SETTINGS)
    converter.media_roots = parse_media_roots([f"humanml3d={root}"])
    path = converter.motion_clip(motion_row(start=1.0, end=1.2))
    assert len(load_video(path, num_frames=NUM_FRAMES).timestamps) == NUM_FRAMES


def test_missing_media_is_one_clear_error_naming_the_row_and_the_path(processor, humanml3d, tmp_path):
    root, _ = humanml3d
    converter = Stage1Converter(processor, tmp_path, parse_media_roots([f"humanml3d={root}"]), settings=SETTINGS)
    with pytest.raises(MissingMediaError) as missing:
        converter.convert([motion_row(media="new_joints/000099.npy")], progress=False)
    message = str(missing.value)
    assert "humanml3d:000021#0" in message and str(root / "new_joints" / "000099.npy") in message
    assert "\n" not in message and "--media-root humanml3d=DIR" in message

    image_row = {"source": "rsi_cb", "id": "a/b.tif", "media": "a/b.tif", "media_type": "image"}
    with pytest.raises(MissingMediaError, match=r"rsi_cb:a/b.tif: no media root for source 'rsi_cb'"):
        Stage1Converter(processor, tmp_path, parse_media_roots([f"humanml3d={root}"])).convert_row(image_row)
    shared = parse_media_roots([str(tmp_path / "media"), f"humanml3d={root}"])
    assert shared.path_of(image_row) == tmp_path / "media" / "rsi_cb" / "a/b.tif"
    # a processor that only reads the cache cannot compute the expert inputs of a new (static) clip
    with pytest.raises(ValueError, match="stage-1 image rows need the processor's expert extractors"):
        Stage1Converter(processor, tmp_path, shared).convert([image_row], progress=False)


def test_humanml3d_feature_vectors_become_joints():
    """`new_joint_vecs` (263-d): the root moves by its (heading-frame) velocity; the others are placed around it."""
    frames = 5
    features = np.zeros((frames, 263))
    features[:, 1] = 0.1  # root x velocity per frame
    features[:, 3] = 0.9  # root height
    local = np.random.default_rng(0).normal(size=(21, 3))
    features[:, 4 : 4 + 63] = local.reshape(-1)
    joints = recover_from_ric(features)
    assert joints.shape == (frames, 22, 3)
    np.testing.assert_allclose(joints[:, 0, 0], 0.1 * np.arange(frames))
    np.testing.assert_allclose(joints[:, 0, 1], 0.9)
    np.testing.assert_allclose(joints[:, 1:, 1], np.broadcast_to(local[:, 1], (frames, 21)))
    np.testing.assert_allclose(joints[:, 1:, 0] - joints[:, :1, 0], np.broadcast_to(local[:, 0], (frames, 21)))
