"""Stage-1 motion clips: HumanML3D joints (or `new_joint_vecs` features) drawn as a stick figure, and the expert
inputs of the drawn frames (the motion's own pose, the figure's box, the frames without the figure). The clip path,
the cache and the settings are `sherlock.training.stage1`'s (see its docstring for the whole stage-1 data path)."""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np


if TYPE_CHECKING:
    from .stage1 import ClipSettings

HUMANML3D_FPS = 20.0
NUM_SMPL_JOINTS = 22
HUMANML3D_FEATURES = 263
# HumanML3D's kinematic chains (SMPL-22 joint indices): the bones of the stick figure.
SMPL_CHAINS = ((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20))
SMPL_HEAD, SMPL_NECK, SMPL_LEFT_SHOULDER, SMPL_RIGHT_SHOULDER = 15, 12, 16, 17
# COCO keypoint index -> SMPL-22 joint for the joints both skeletons share (shoulders, elbows, wrists, hips, knees,
# ankles); the face keypoints 0-4 are placed around the head joint (`smpl_to_coco`).
COCO_FROM_SMPL = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 11: 1, 12: 2, 13: 4, 14: 5, 15: 7, 16: 8}
PERSON_LABEL = 0  # "person" in the COCO-80 contiguous ids of RT-DETR's `id2label` (and of the synthetic set)
BACKGROUND_COLOR = (214, 210, 200)
FIGURE_COLOR = (30, 40, 110)


# --------------------------------------------------------------------------------------------------------- motions


def _quaternion_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors `v (..., 3)` by unit quaternions `q (..., 4)` (w, x, y, z)."""
    axis = q[..., 1:]
    uv = np.cross(axis, v)
    uuv = np.cross(axis, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def recover_from_ric(features: np.ndarray, joints_num: int = NUM_SMPL_JOINTS) -> np.ndarray:
    """HumanML3D's `recover_from_ric` in numpy: `(T, 263)` motion features -> `(T, joints_num, 3)` joint positions.

    The features hold the root's rotation velocity about Y (index 0), its XZ velocity (1:3, in its own heading frame),
    its height (3) and the other joints' positions relative to the root in the root's heading frame (4:4+3(J-1)).
    """
    data = np.asarray(features, dtype=np.float64)
    angle = np.zeros(len(data))
    angle[1:] = data[:-1, 0]
    angle = np.cumsum(angle)
    rotation = np.zeros((len(data), 4))
    rotation[:, 0], rotation[:, 2] = np.cos(angle), np.sin(angle)
    inverse = rotation * np.array([1.0, -1.0, -1.0, -1.0])
    root = np.zeros((len(data), 3))
    root[1:, [0, 2]] = data[:-1, 1:3]
    root = np.cumsum(_quaternion_rotate(inverse, root), axis=0)
    root[:, 1] = data[:, 3]
    local = data[:, 4 : (joints_num - 1) * 3 + 4].reshape(len(data), joints_num - 1, 3)
    positions = _quaternion_rotate(np.repeat(inverse[:, None, :], joints_num - 1, axis=1), local)
    positions[..., 0] += root[:, None, 0]
    positions[..., 2] += root[:, None, 2]
    return np.concatenate([root[:, None, :], positions], axis=1)


def load_motion(path: str | os.PathLike, row_name: str = "") -> np.ndarray:
    """The `(T, 22, 3)` joints of a HumanML3D `new_joints` file (or of a `new_joint_vecs` `(T, 263)` one)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"stage-1 row {row_name}: cannot read the motion {path} ({error})") from error
    if data.ndim == 3 and data.shape[1:] == (NUM_SMPL_JOINTS, 3):
        joints = data.astype(np.float64)
    elif data.ndim == 2 and data.shape[1] == HUMANML3D_FEATURES:
        joints = recover_from_ric(data)
    else:
        raise ValueError(
            f"stage-1 row {row_name}: the motion {path} has shape {data.shape}; expected HumanML3D joints "
            f"(T, {NUM_SMPL_JOINTS}, 3) or features (T, {HUMANML3D_FEATURES})"
        )
    if len(joints) < 2 or not np.isfinite(joints).all():
        raise ValueError(f"stage-1 row {row_name}: the motion {path} has {len(joints)} frames or non-finite values")
    return joints


def smpl_to_coco(joints: np.ndarray) -> np.ndarray:
    """SMPL-22 joint positions `(..., 22, 3)` -> the 17 COCO keypoints `(..., 17, 3)` in COCO order.

    Shoulders, elbows, wrists, hips, knees and ankles are the SMPL joints (`COCO_FROM_SMPL`). The face is placed
    around the head joint with `h = |head - neck|`, `up = (head - neck) / h` and `left` the unit vector from the right
    to the left shoulder (the person's left, as COCO's): nose = head, eyes = head + 0.3 h up ± 0.25 h left, ears =
    head ± 0.5 h left (COCO's left_* on the person's left).
    """
    joints = np.asarray(joints, dtype=np.float64)
    out = np.zeros(joints.shape[:-2] + (17, 3))
    for coco, smpl in COCO_FROM_SMPL.items():
        out[..., coco, :] = joints[..., smpl, :]
    head, neck = joints[..., SMPL_HEAD, :], joints[..., SMPL_NECK, :]
    up = head - neck
    size = np.linalg.norm(up, axis=-1, keepdims=True)
    up = up / np.maximum(size, 1e-8)
    left = joints[..., SMPL_LEFT_SHOULDER, :] - joints[..., SMPL_RIGHT_SHOULDER, :]
    left = left / np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-8)
    out[..., 0, :] = head
    out[..., 1, :] = head + size * (0.3 * up + 0.25 * left)
    out[..., 2, :] = head + size * (0.3 * up - 0.25 * left)
    out[..., 3, :] = head + size * 0.5 * left
    out[..., 4, :] = head - size * 0.5 * left
    return out


def project_points(points: np.ndarray, yaw_degrees: float) -> np.ndarray:
    """Orthographic view of Y-up 3D points `(..., 3)`: turned by `yaw_degrees` about Y, then `(u, v) = (x, -y)`
    (image axes: x right, y down), in scene units."""
    points = np.asarray(points, dtype=np.float64)
    yaw = math.radians(yaw_degrees)
    u = math.cos(yaw) * points[..., 0] + math.sin(yaw) * points[..., 2]
    return np.stack([u, -points[..., 1]], axis=-1)


@dataclass(frozen=True)
class MotionRender:
    """A rendered motion segment: frames `(n, S, S, 3)` uint8, the figure's masks `(n, S, S)`, the COCO keypoints
    `(n, 17, 2)` in pixels (pixel-edge coordinates: pixel `i` spans `[i, i + 1)`), the frame rate and the side."""

    frames: np.ndarray
    masks: np.ndarray
    keypoints: np.ndarray
    fps: int
    size: int


def segment_times(num_motion_frames: int, start, end, num_frames: int, fps: int) -> tuple[np.ndarray, int]:
    """`(times, fps)`: the times (seconds into the motion) of the rendered frames of segment `[start, end)` and the
    frame rate, raised from `fps` when the segment is too short for `num_frames` frames."""
    duration = num_motion_frames / HUMANML3D_FPS
    begin = 0.0 if start is None or not math.isfinite(start) else max(0.0, float(start))
    stop = duration if end is None or not math.isfinite(end) else min(float(end), duration)
    if stop - begin < 1.0 / HUMANML3D_FPS:
        raise ValueError(f"the segment [{start}, {end}] s lies outside the motion of {duration:.2f} s")
    span = stop - begin
    fps = max(int(fps), math.ceil(num_frames / span))
    count = max(num_frames, math.ceil(span * fps - 1e-9))
    return begin + np.arange(count) / fps, fps


def interpolate_joints(joints: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Joints at `times` (seconds), linearly interpolated between HumanML3D's 20 fps frames."""
    position = np.clip(np.asarray(times) * HUMANML3D_FPS, 0.0, len(joints) - 1.0)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(joints) - 1)
    weight = (position - low)[:, None, None]
    return joints[low] * (1.0 - weight) + joints[high] * weight


def render_motion(joints: np.ndarray, start, end, num_frames: int, settings: "ClipSettings") -> MotionRender:
    """Draw the segment `[start, end)` of a `(T, 22, 3)` motion as a stick figure (module docstring)."""
    from PIL import Image, ImageDraw

    times, fps = segment_times(len(joints), start, end, num_frames, settings.motion_fps)
    posed = interpolate_joints(joints, times)
    coco = smpl_to_coco(posed)
    flat_joints = project_points(posed, settings.motion_yaw)
    flat_coco = project_points(coco, settings.motion_yaw)
    head = np.median(np.linalg.norm(posed[:, SMPL_HEAD] - posed[:, SMPL_NECK], axis=-1))
    everything = np.concatenate([flat_joints.reshape(-1, 2), flat_coco.reshape(-1, 2)])
    low, high = everything.min(axis=0) - head, everything.max(axis=0) + head
    side = settings.motion_size
    scale = 0.8 * side / max(float((high - low).max()), 1e-6)
    centre = (low + high) / 2.0

    def to_pixels(points):
        return (points - centre) * scale + side / 2.0

    pixels_joints, pixels_coco = to_pixels(flat_joints), to_pixels(flat_coco)
    width = max(2, round(side / 40))
    radius = max(2.0, 0.8 * head * scale)
    frames = np.empty((len(times), side, side, 3), np.uint8)
    masks = np.empty((len(times), side, side), bool)
    for index, points in enumerate(pixels_joints):
        image = Image.new("RGB", (side, side), BACKGROUND_COLOR)
        mask = Image.new("L", (side, side), 0)
        for canvas, color in ((ImageDraw.Draw(image), FIGURE_COLOR), (ImageDraw.Draw(mask), 255)):
            for chain in SMPL_CHAINS:
                line = [tuple(points[joint] - 0.5) for joint in chain]  # PIL: pixel i is centred on i
                canvas.line(line, fill=color, width=width, joint="curve")
            x, y = points[SMPL_HEAD] - 0.5
            canvas.ellipse([x - radius, y - radius, x + radius, y + radius], fill=color)
        frames[index] = np.asarray(image)
        masks[index] = np.asarray(mask) > 0
    return MotionRender(frames, masks, pixels_coco, fps, side)


def motion_features(render: MotionRender, frame_indices, capacities: Mapping[str, int], parts) -> dict:
    """The expert inputs of the rendered frames `frame_indices` (the ones the processor samples), in the layout of
    the extractors' outputs (`EXPERT_OUTPUT_KEYS`): one person with the motion's keypoints and the figure's box, no
    relation, the frames with the figure blanked. `parts` names the extractor parts to fill (pose, objects,
    background: a processor without a part gets no array of it, as from its extractors)."""
    from processing.extractors_sherlock import CLIP_MEAN_FILL

    indices = np.asarray(frame_indices, dtype=int)
    count, side = len(indices), render.size
    out = {}
    if "pose" in parts:
        keypoints = np.zeros((count, capacities["max_persons"], 17, 3), np.float32)
        keypoints[:, 0, :, :2] = np.clip(render.keypoints[indices] / side, 0.0, 1.0)
        keypoints[:, 0, :, 2] = 1.0
        mask = np.zeros((count, capacities["max_persons"]), bool)
        mask[:, 0] = True
        out.update(pose_keypoints=keypoints, pose_mask=mask)
    if "objects" in parts:
        boxes = np.zeros((count, capacities["max_objects"], 4), np.float32)
        labels = np.zeros((count, capacities["max_objects"]), np.int64)
        present = np.zeros((count, capacities["max_objects"]), bool)
        for slot, index in enumerate(indices):
            rows, cols = np.nonzero(render.masks[index])
            if len(rows):
                boxes[slot, 0] = (
                    cols.min() / side,
                    rows.min() / side,
                    (cols.max() + 1) / side,
                    (rows.max() + 1) / side,
                )
                labels[slot, 0], present[slot, 0] = PERSON_LABEL, True
        out.update(
            object_boxes=boxes,
            object_labels=labels,
            object_mask=present,
            relation_triplets=np.zeros((count, capacities["max_relations"], 3), np.int64),
            relation_mask=np.zeros((count, capacities["max_relations"]), bool),
        )
    if "background" in parts:
        background = render.frames[indices].copy()
        background[render.masks[indices]] = CLIP_MEAN_FILL
        out["background_frames"] = background
    return out


__all__ = [
    "BACKGROUND_COLOR",
    "COCO_FROM_SMPL",
    "FIGURE_COLOR",
    "PERSON_LABEL",
    "MotionRender",
    "interpolate_joints",
    "load_motion",
    "motion_features",
    "project_points",
    "recover_from_ric",
    "render_motion",
    "segment_times",
    "smpl_to_coco",
]
