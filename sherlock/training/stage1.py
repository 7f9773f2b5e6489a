"""Stage-1 pre-tuning rows -> training rows that go through Sherlock's video path (issue 9, paper §4).

    converter = Stage1Converter(processor, work_dir="out/stage1_media", media_roots=parse_media_roots(["coco=..."]))
    rows = converter.convert(pretune_rows)   # [{"video": clip.mp4, "instruction": ..., "answer": ...}, ...]

Stage 1 trains on the pre-tuning set of `sherlock-build-pretune` (HumanML3D motions, Ref-L4 regions, RSI-CB scenes,
COCO captions) through the same video path as stage 2, so the spatial experts and the expert gate train in stage 1
too. Every row becomes a short clip that `SherlockDataCollator` reads unchanged:

- **an image** (`media_type` "image") becomes a *static clip*: the image repeated for `ClipSettings.image_seconds`
  (2 s) at `max(4, ceil(num_frames / 2 s))` frames per second, so the processor's uniform sampling finds at least
  `num_frames` frames and the prompt's frame-time line reads like a short video's. The image keeps its aspect ratio
  (its longer side at most `max_image_side` pixels, both sides even for H.264) and is not padded: the clip's frame is
  the whole image (the frame the expert extractors and the feature cache use), while the model sees the image
  processor's centre crop of it (for a 4:3 image and a square crop, x in [0.124, 0.876] of the image). The processor's
  expert extractors run on the clip like on any video (so a `precomputed`-only processor cannot train on images).
- **a region** (Ref-L4: the row's `regions`, `[x1, y1, x2, y2]` normalised to the image, written into its instruction
  by `sherlock-build-pretune`) is mapped through the same view window as the expert inputs (`processor.view_window`
  of the clip's frame size, `region_in_view`): the instruction's box text is rewritten in the crop's coordinates,
  clipped to it, with the text's own number of decimals. A row with a region of which the model would see less than
  `min_region_visible` (half) of the area is left out of the training rows (its referring expression describes an
  object the model does not see); `convert` logs how many and which.
- **a motion** (`media_type` "motion", HumanML3D `new_joints/<id>.npy`, `(T, 22, 3)` SMPL joint positions at 20 fps,
  Y up; or `new_joint_vecs/<id>.npy`, `(T, 263)` features, turned into joints with HumanML3D's `recover_from_ric`)
  becomes a stick-figure clip of the captioned segment `[start, end)` (the whole motion when both are null): the
  joints are turned by `motion_yaw` degrees about the vertical axis, projected orthographically (x right, y down),
  and scaled and centred into a square `motion_size` frame with a 10 % margin (one fit for the whole segment, so the
  figure moves across the frame as it does in the motion), drawn at `motion_fps` frames per second (more when the
  segment is too short for `num_frames` frames; joints interpolated linearly in time). The expert inputs of the
  frames the processor samples are written into the processor's feature cache (`FeatureCache.save`, under the
  processor's extractor ids, or `MOTION_EXTRACTOR_IDS` for the `precomputed` backend, which reads the clip's only
  entry), so the extractors never run on a drawing: the pose is the motion's own joints (`smpl_to_coco`: COCO-17 in
  the COCO order, x, y in [0, 1] of the frame, score 1), the figure's box as one `person` object (label
  `PERSON_LABEL`), no relation, and the background frames = the clip with the figure blanked
  (`CLIP_MEAN_FILL`). The frame is square, so the model's view (resize + centre crop) is the whole frame and the
  keypoints are also in [0, 1] of the model's view.

Clips are content-addressed: `<work_dir>/clips/<key[:2]>/<key>.mp4`, the key hashing the media file's bytes, the
segment, the settings and `num_frames`; a second run reuses every clip (and a motion's cache entry) it finds, and the
files are written to a temporary name and renamed, so an interrupted run leaves no half-written clip.

Media paths: a row's `media` is relative to the root of its source (the folder given to `sherlock-build-pretune`);
`parse_media_roots` reads `SOURCE=DIR` (that source's root) and `DIR` (a folder with one sub-folder per source,
`DIR/<source>/<media>`). A row whose file does not exist raises `MissingMediaError` (a `FileNotFoundError`) naming the
row (`source:id`), the path looked for and how to give the root; an unreadable image or motion raises a `ValueError`
naming both too. Nothing is skipped silently.
"""

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..video_writer import available_codec, write_mp4


logger = logging.getLogger(__name__)

STAGE1_VERSION = 1  # part of every clip key: bump it when the rendering changes
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
MOTION_EXTRACTOR_IDS = {"stage1_motion": f"humanml3d-stick-figure-v{STAGE1_VERSION}"}
MIN_REGION_VISIBLE = 0.5  # the least part of a region's area the model must see for its row to be kept
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
REGION_TEXT = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
BACKGROUND_COLOR = (214, 210, 200)
FIGURE_COLOR = (30, 40, 110)


class MissingMediaError(FileNotFoundError):
    """A pre-tuning row's media file does not exist (the message names the row, the path and the root to give)."""


@dataclass(frozen=True)
class ClipSettings:
    """How stage-1 clips are made (every field is part of the clip key).

    Args:
        image_seconds: duration of a static clip.
        max_image_side: longer side of a static clip's frames (smaller images keep their size).
        motion_size: side of the square frames of a motion clip.
        motion_fps: frame rate of a motion clip (raised when a segment is too short for `num_frames` frames).
        motion_yaw: degrees the figure is turned about the vertical axis before the orthographic projection (0: seen
            from the front; a turn keeps walking towards the camera visible).
        codec: "libx264" (when PyAV's FFmpeg has it, else "mpeg4") or "mpeg4"; the clips are written by
            `sherlock.video_writer.write_mp4` (constant quantisers: the frames of a static clip decode identical).
    """

    image_seconds: float = 2.0
    max_image_side: int = 448
    motion_size: int = 224
    motion_fps: int = 10
    motion_yaw: float = 30.0
    codec: str = "libx264"


# ------------------------------------------------------------------------------------------------------ media roots


@dataclass(frozen=True)
class MediaRoots:
    """Where the media of each pre-tuning source lie: `by_source[source] / media`, else `shared / source / media`."""

    by_source: Mapping[str, Path]
    shared: Path | None = None

    def path_of(self, row: Mapping) -> Path:
        """The media file of `row` (not checked for existence); `MissingMediaError` when no root covers it."""
        media, source = str(row.get("media") or ""), str(row.get("source") or "")
        if not media:
            raise MissingMediaError(f"stage-1 row {_row_name(row)} has no `media` path")
        if os.path.isabs(media):
            return Path(media)
        if source in self.by_source:
            return Path(self.by_source[source]) / media
        if self.shared is not None:
            return Path(self.shared) / source / media
        raise MissingMediaError(
            f"stage-1 row {_row_name(row)}: no media root for source {source!r} (its media {media!r} is relative): "
            f"give --media-root {source}=DIR (the folder given to sherlock-build-pretune for it)"
        )

    def describe(self) -> str:
        parts = [f"{source}={path}" for source, path in self.by_source.items()]
        if self.shared is not None:
            parts.append(f"{self.shared}/<source>")
        return ", ".join(parts) or "none"


def parse_media_roots(values: Sequence[str] | None, default: str | os.PathLike | None = None) -> MediaRoots:
    """`MediaRoots` from `--media-root` values: `SOURCE=DIR` (that source's root) or `DIR` (one sub-folder per source);
    `default` (e.g. `<dataset>/media`) is the shared root when no plain `DIR` is given."""
    by_source, shared = {}, None
    for value in values or ():
        for item in str(value).split(","):
            item = item.strip()
            if not item:
                continue
            source, sep, folder = item.partition("=")
            if sep and source and os.sep not in source:
                by_source[source.strip()] = Path(os.path.expanduser(folder.strip()))
            else:
                shared = Path(os.path.expanduser(item))
    if shared is None and default is not None:
        shared = Path(default)
    return MediaRoots(by_source, shared)


def _row_name(row: Mapping) -> str:
    return f"{row.get('source', '?')}:{row.get('id', '?')}"


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


def render_motion(joints: np.ndarray, start, end, num_frames: int, settings: ClipSettings) -> MotionRender:
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


# ----------------------------------------------------------------------------------------------------------- clips


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def static_frame_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """`(width, height)` of the frames of a static clip of a `width` x `height` image: its longer side at most
    `max_side`, both sides even."""
    factor = min(1.0, max_side / max(width, height))
    return max(2, int(width * factor) // 2 * 2), max(2, int(height * factor) // 2 * 2)


def _open_image(image_path: Path, row_name: str, convert: bool):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image_path) as image:
            return image.convert("RGB") if convert else image.size
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise ValueError(f"stage-1 row {row_name}: cannot read the image {image_path} ({error})") from error


def static_frame(image_path: Path, max_side: int, row_name: str = "") -> np.ndarray:
    """The RGB frame of a static clip: the image, its longer side at most `max_side`, both sides even."""
    from PIL import Image

    image = _open_image(image_path, row_name, convert=True)
    size = static_frame_size(*image.size, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    return np.asarray(image)


# --------------------------------------------------------------------------------------------------------- regions


def region_in_view(region: Sequence[float], window, min_visible: float = MIN_REGION_VISIBLE) -> list[float] | None:
    """A region `[x1, y1, x2, y2]` normalised to the full frame, in the view `window` (a `ViewWindow`: the image
    processor's resize and centre crop, as for the expert inputs) and clipped to it; `None` when less than
    `min_visible` of its area lies inside the view (`map_boxes` masks a box with no area inside at all)."""
    from processing.geometry_sherlock import map_boxes

    values = np.asarray(region, dtype=np.float64)
    if values.shape != (4,) or not np.isfinite(values).all() or values[2] <= values[0] or values[3] <= values[1]:
        raise ValueError(f"a region is 4 finite numbers [x1, y1, x2, y2] with x1 < x2 and y1 < y2, got {region}")
    mapped, mask = map_boxes(values[None], np.ones(1, bool), window)
    if not mask[0]:
        return None
    x1, x2 = window.map_x(values[[0, 2]])
    y1, y2 = window.map_y(values[[1, 3]])
    seen = (mapped[0, 2] - mapped[0, 0]) * (mapped[0, 3] - mapped[0, 1])
    if seen < min_visible * (x2 - x1) * (y2 - y1) - 1e-12:
        return None
    return [float(value) for value in mapped[0]]


def _decimals(text: str) -> int:
    return len(text.partition(".")[2]) if "e" not in text.lower() else 3


def rewrite_region_text(
    instruction: str, regions: Sequence[Sequence[float]], mapped: Sequence[Sequence[float]]
) -> str:
    """`instruction` with the box text `[x1, y1, x2, y2]` of each of `regions` (as `sherlock-build-pretune` writes it)
    replaced by the matching box of `mapped`, with the text's number of decimals. A region whose text is not in the
    instruction raises a `ValueError`."""
    matches = list(REGION_TEXT.finditer(instruction))
    spans: dict[int, tuple[int, str]] = {}
    for region, new in zip(regions, mapped, strict=True):
        for match in matches:
            texts = match.groups()
            decimals = max(_decimals(text) for text in texts)
            tolerance = 0.5 * 10.0**-decimals + 1e-9
            if match.start() not in spans and all(
                abs(float(text) - float(value)) <= tolerance for text, value in zip(texts, region)
            ):
                spans[match.start()] = (match.end(), "[" + ", ".join(f"{value:.{decimals}f}" for value in new) + "]")
                break
        else:
            raise ValueError(f"its instruction {instruction!r} does not contain its region {list(region)}")
    for start in sorted(spans, reverse=True):
        end, text = spans[start]
        instruction = instruction[:start] + text + instruction[end:]
    return instruction


def static_clip_timing(num_frames: int, seconds: float) -> tuple[int, int]:
    """`(fps, frames)` of a static clip: at least 4 fps and at least `num_frames` frames over `seconds`."""
    fps = max(4, math.ceil(num_frames / seconds))
    return fps, max(num_frames, round(fps * seconds))


class Stage1Converter:
    """Turns pre-tuning rows into training rows with clips in `work_dir` (module docstring).

    Args:
        processor ([`SherlockProcessor`]): the training processor (its `num_frames` sampling, its feature cache
            `feature_cache_dir`, which must be set when there are motion rows, and its extractors).
        work_dir: folder of the clips (`<work_dir>/clips/`).
        media_roots ([`MediaRoots`]): where the rows' media lie.
        capacities (`dict`, *optional*): `max_persons`, `max_objects`, `max_relations` of the motion entries (default:
            the processor's extractors', else the model config's via `expert_capacities`).
        settings ([`ClipSettings`], *optional*).
        min_region_visible (`float`, *optional*, defaults to 0.5): the least part of a region's area that the model's
            view must show for its row to be kept (module docstring).
    """

    def __init__(
        self,
        processor,
        work_dir,
        media_roots: MediaRoots,
        capacities=None,
        settings=None,
        min_region_visible: float = MIN_REGION_VISIBLE,
    ):
        if not 0.0 < min_region_visible <= 1.0:
            raise ValueError(f"min_region_visible must be in (0, 1], got {min_region_visible}")
        self.min_region_visible = float(min_region_visible)
        if processor.fps is not None:
            raise ValueError(
                "stage-1 clips need uniform sampling (`num_frames`), the processor samples at a rate (`fps`)"
            )
        self.processor = processor
        self.work_dir = Path(work_dir)
        self.media_roots = media_roots
        self.settings = settings or ClipSettings()
        self.capacities = dict(capacities or {"max_persons": 8, "max_objects": 16, "max_relations": 32})

    @property
    def num_frames(self) -> int:
        return int(self.processor.num_frames)

    def _clip_path(self, description: dict) -> Path:
        payload = {"version": STAGE1_VERSION, "num_frames": self.num_frames, **description}
        key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()
        return self.work_dir / "clips" / key[:2] / f"{key}.mp4"

    def media_file(self, row: Mapping) -> Path:
        """The row's media file; `MissingMediaError` naming the row and the path when it does not exist."""
        path = self.media_roots.path_of(row)
        if not path.is_file():
            raise MissingMediaError(
                f"stage-1 row {_row_name(row)}: its {row.get('media_type', 'media')} file {path} does not exist "
                f"(media roots: {self.media_roots.describe()}; give --media-root {row.get('source')}=DIR, the folder "
                "given to sherlock-build-pretune for that source)"
            )
        return path

    def image_clip(self, row: Mapping) -> Path:
        """The static clip of an image row (written unless it exists)."""
        path = self.media_file(row)
        settings = self.settings
        fps, count = static_clip_timing(self.num_frames, settings.image_seconds)
        clip = self._clip_path(
            {
                "kind": "image",
                "media": _hash_file(path),
                "seconds": settings.image_seconds,
                "max_side": settings.max_image_side,
                "codec": settings.codec,
            }
        )
        if not clip.is_file():
            frame = static_frame(path, settings.max_image_side, _row_name(row))
            write_mp4((frame for _ in range(count)), clip, fps, available_codec(settings.codec))
        return clip

    def motion_clip(self, row: Mapping) -> Path:
        """The stick-figure clip of a motion row (written unless it exists) with its expert inputs in the cache."""
        from processing import FeatureCache, video_content_hash

        path = self.media_file(row)
        settings = self.settings
        start, end = row.get("start"), row.get("end")
        description = {"kind": "motion", "media": _hash_file(path), "start": start, "end": end}
        description.update({key: value for key, value in asdict(settings).items() if key.startswith("motion")})
        description["codec"] = settings.codec
        clip = self._clip_path(description)
        if self.processor.feature_cache_dir is None:
            raise ValueError(
                "stage-1 motion rows write their pose input into the feature cache: set `feature_cache_dir`"
            )
        cache = FeatureCache(self.processor.feature_cache_dir)
        ids = self.extractor_ids()
        render = None
        if not clip.is_file():
            render = self._render(row, path)
            write_mp4(render.frames, clip, render.fps, available_codec(settings.codec))
        probe = self.processor.load_video(str(clip), decode=False)
        video_hash = video_content_hash(str(clip))
        if not cache.contains(video_hash, probe.timestamps, ids):
            render = render if render is not None else self._render(row, path)
            if len(render.frames) <= int(np.max(probe.frame_indices)):
                raise RuntimeError(f"{clip}: the clip reads back with frames {probe.frame_indices.tolist()}")
            features = motion_features(render, probe.frame_indices, self.capacities, self.parts())
            cache.save(video_hash, probe.timestamps, ids, features, extra={"source": f"stage1:{_row_name(row)}"})
        return clip

    def _render(self, row: Mapping, path: Path) -> MotionRender:
        joints = load_motion(path, _row_name(row))
        try:
            return render_motion(joints, row.get("start"), row.get("end"), self.num_frames, self.settings)
        except ValueError as error:
            raise ValueError(f"stage-1 row {_row_name(row)}: {error} ({path})") from error

    def extractor_ids(self) -> dict[str, str]:
        """The ids the motion entries are cached under: the processor's extractors' (the processor looks them up so),
        or `MOTION_EXTRACTOR_IDS` for the `precomputed` backend (it reads a clip's only entry)."""
        if self.processor.is_precomputed:
            return dict(MOTION_EXTRACTOR_IDS)
        return self.processor.extractor_set.extractor_ids()

    def parts(self) -> set[str]:
        """The expert-input parts of the processor's extractors (all three for the `precomputed` backend)."""
        if self.processor.is_precomputed:
            return {"pose", "objects", "background"}
        extractors = self.processor.extractor_set
        return {name for name in ("pose", "objects", "background") if getattr(extractors, name) is not None}

    def view_instruction(self, row: Mapping) -> str | None:
        """The row's instruction with its `regions` in the model's view of its clip (`processor.view_window` of the
        clip's frame size): the box text in the crop's coordinates; `None` when the view shows less than
        `min_region_visible` of a region. Rows without regions keep their instruction."""
        instruction = str(row.get("instruction") or "")
        regions = [list(region) for region in row.get("regions") or ()]
        if not regions:
            return instruction
        if row.get("media_type") != "image":
            raise ValueError(f"stage-1 row {_row_name(row)}: regions are only read on image rows")
        width, height = static_frame_size(
            *_open_image(self.media_file(row), _row_name(row), convert=False), self.settings.max_image_side
        )
        window = self.processor.view_window(height, width)
        try:
            mapped = [region_in_view(region, window, self.min_region_visible) for region in regions]
            if any(region is None for region in mapped):
                return None
            return rewrite_region_text(instruction, regions, mapped)
        except ValueError as error:
            raise ValueError(f"stage-1 row {_row_name(row)}: {error}") from error

    def convert_row(self, row: Mapping) -> dict | None:
        """One pre-tuning row -> `{"video", "instruction", "answer", "source", "id"}`; `None` for a row left out
        because the model's view shows too little of its region (`view_instruction`)."""
        kind = row.get("media_type")
        instruction = self.view_instruction(row)
        if instruction is None:
            return None
        if kind == "image":
            clip = self.image_clip(row)
        elif kind == "motion":
            clip = self.motion_clip(row)
        else:
            raise ValueError(f"stage-1 row {_row_name(row)}: unknown media_type {kind!r} (image or motion)")
        return {
            "video": str(clip),
            "instruction": instruction,
            "answer": str(row.get("answer") or ""),
            "source": str(row.get("source") or ""),
            "id": str(row.get("id") or ""),
        }

    def convert(self, rows: Sequence[Mapping], progress: bool = True) -> list[dict]:
        """Every row converted (tqdm progress bar), less the rows whose region the model's view does not show (one
        warning names how many and the first few); the first missing or unreadable media file raises."""
        from tqdm.auto import tqdm

        if self.processor.is_precomputed and any(row.get("media_type") == "image" for row in rows):
            raise ValueError(
                "stage-1 image rows need the processor's expert extractors (their static clips are new videos), but "
                "the processor reads every expert input from the feature cache (`precomputed` backend): give "
                "--extractors default (or an extractor settings file)"
            )
        converted, left_out = [], []
        for row in tqdm(rows, desc="stage-1 clips", unit="row", disable=not progress):
            item = self.convert_row(row)
            if item is None:
                left_out.append(_row_name(row))
            else:
                converted.append(item)
        if left_out:
            logger.warning(
                "stage 1: left out %d of %d rows whose region lies mostly outside the model's view (the image "
                "processor's centre crop shows less than %g of its area): %s%s",
                len(left_out),
                len(rows),
                self.min_region_visible,
                ", ".join(left_out[:5]),
                ", ..." if len(left_out) > 5 else "",
            )
        return converted


def expert_capacities(processor, config) -> dict[str, int]:
    """`max_persons`, `max_objects`, `max_relations` of the arrays a motion entry must have to stack with the
    extractors' outputs: the processor's extractor settings, else the model config's (`precomputed`)."""
    capacities = {name: int(getattr(config, name)) for name in ("max_persons", "max_objects", "max_relations")}
    if not processor.is_precomputed:
        extractors = processor.extractor_set
        for part, name in (("pose", "max_persons"), ("objects", "max_objects"), ("objects", "max_relations")):
            value = getattr(getattr(extractors, part, None), name, None)
            if value is not None:
                capacities[name] = int(value)
    return capacities


__all__ = [
    "COCO_FROM_SMPL",
    "MOTION_EXTRACTOR_IDS",
    "PERSON_LABEL",
    "ClipSettings",
    "MediaRoots",
    "MIN_REGION_VISIBLE",
    "MissingMediaError",
    "MotionRender",
    "Stage1Converter",
    "expert_capacities",
    "interpolate_joints",
    "load_motion",
    "motion_features",
    "parse_media_roots",
    "project_points",
    "recover_from_ric",
    "region_in_view",
    "render_motion",
    "rewrite_region_text",
    "segment_times",
    "smpl_to_coco",
    "static_clip_timing",
    "static_frame",
    "static_frame_size",
]
