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
from .stage1_motion import (
    BACKGROUND_COLOR,
    COCO_FROM_SMPL,
    FIGURE_COLOR,
    PERSON_LABEL,
    MotionRender,
    interpolate_joints,
    load_motion,
    motion_features,
    project_points,
    recover_from_ric,
    render_motion,
    segment_times,
    smpl_to_coco,
)


logger = logging.getLogger(__name__)

STAGE1_VERSION = 1  # part of every clip key: bump it when the rendering changes
MOTION_EXTRACTOR_IDS = {"stage1_motion": f"humanml3d-stick-figure-v{STAGE1_VERSION}"}
MIN_REGION_VISIBLE = 0.5  # the least part of a region's area the model must see for its row to be kept
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
REGION_TEXT = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")


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
            if row.get("media_type") == "image" and REGION_TEXT.search(instruction):
                raise ValueError(
                    f"stage-1 row {_row_name(row)}: its instruction {instruction!r} has a box but the row has no "
                    "`regions` to map it into the model's view (rebuild the set with sherlock-build-pretune)"
                )
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
    "BACKGROUND_COLOR",
    "COCO_FROM_SMPL",
    "FIGURE_COLOR",
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
