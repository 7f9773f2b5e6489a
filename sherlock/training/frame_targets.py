"""Per-frame targets of the frame-supervision stage (issue 21): what is under way at each sampled frame, derived
exactly from a row's own `events` (M-VAE: `start`, `end` in seconds and the quadruple) and the frame times.

    targets = frame_targets(row["events"], frame_times=[0.0, 0.5, 1.0, 1.5])
    targets.event_types   # (frames, 11) multi-hot, EVENT_TYPES order
    targets.subject       # (frames,) index into ENTITIES, or NO_EVENT (= len(ENTITIES)) when no event is under way

The rules (documented here, tested in tests/test_frame_targets.py):
- **Under way**: an event is under way at frame time `t` when `start <= t <= end` (both bounds included; an event of
  zero length `start == end` covers a frame exactly at that time).
- **Event types**: multi-hot over `EVENT_TYPES`, one bit per event type under way (overlapping events of different
  types set several bits; no event under way: all zeros, the "none" of the frame).
- **Subject and object**: those of the *primary* event under way: the one that started first (ties: the one that
  ends first, then the first in the row's order). No event under way: `NO_EVENT`, its own class.
- **Scene**: the primary event's scene; at a frame with no event under way, the video's scene: that of the row's
  first event (by start, end), else `video_scene` (e.g. the synthetic set's `source["scene"]`) when given.
  Unknown (no event and no `video_scene`): `IGNORE_INDEX` (not learnt).

Values are canonical vocabulary entries, or go through the vocabularies' normalisers (`processing.vocabulary_sherlock`): a value outside the vocabulary
raises a ValueError naming the event and the field. Torch is not needed here (plain lists; `as_tensors` converts).
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from processing.vocabulary_sherlock import (
    ENTITIES,
    EVENT_TYPES,
    SCENES,
    normalize_entity,
    normalize_event_type,
    normalize_scene,
)


NO_EVENT = len(ENTITIES)
"""The subject / object class of a frame with no event under way (after the `ENTITIES` classes)."""
NUM_ENTITY_CLASSES = len(ENTITIES) + 1
IGNORE_INDEX = -100
"""The scene target of a frame whose scene is unknown (PyTorch's `ignore_index`)."""
_NORMALIZERS = {
    "event_type": (normalize_event_type, EVENT_TYPES),
    "subject": (normalize_entity, ENTITIES),
    "object": (normalize_entity, ENTITIES),
    "scene": (normalize_scene, SCENES),
}


class FrameTargets(NamedTuple):
    """The targets of one video: `event_types` (frames x len(EVENT_TYPES), 0/1), `subject`, `object` (frames,
    indices into `ENTITIES` or `NO_EVENT`) and `scene` (frames, index into `SCENES` or `IGNORE_INDEX`)."""

    event_types: list[list[int]]
    subject: list[int]
    object: list[int]
    scene: list[int]


def _index(event: Mapping, name: str, position: int) -> int:
    normalize, vocabulary = _NORMALIZERS[name]
    value = event.get(name)
    canonical = value if value in vocabulary else normalize(value) if isinstance(value, str) else None
    if canonical not in vocabulary:
        raise ValueError(f"event {position}: {name} {value!r} is not in the vocabulary (a frame target needs it)")
    return vocabulary.index(canonical)


def _span(event: Mapping, position: int) -> tuple[float, float]:
    try:
        start, end = float(event["start"]), float(event["end"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"event {position}: needs numeric `start` and `end` seconds, got {dict(event)!r}") from None
    if not end >= start:
        raise ValueError(f"event {position}: end {end} is before start {start}")
    return start, end


def frame_targets(
    events: Sequence[Mapping] | None, frame_times: Sequence[float], video_scene: str | None = None
) -> FrameTargets:
    """The per-frame targets of one video (module docstring for the rules).

    Args:
        events: the row's `events` (mappings with `start`, `end`, `subject`, `event_type`, `object`, `scene`); empty
            or None for a video without an abnormal event.
        frame_times: the sampled frames' times in seconds (`processor.load_video(path, decode=False).timestamps`).
        video_scene: the video's scene when no event gives it (used only when `events` is empty).
    """
    parsed = []
    for position, event in enumerate(events or ()):
        start, end = _span(event, position)
        indices = {name: _index(event, name, position) for name in _NORMALIZERS}
        parsed.append((start, end, position, indices))
    parsed.sort(key=lambda item: item[:3])  # the primary event first: earliest start, then earliest end, then order
    if parsed:
        default_scene = parsed[0][3]["scene"]
    elif video_scene:
        default_scene = _index({"scene": video_scene}, "scene", -1)
    else:
        default_scene = IGNORE_INDEX
    targets = FrameTargets([], [], [], [])
    for time in frame_times:
        time = float(time)
        active = [item[3] for item in parsed if item[0] <= time <= item[1]]
        bits = [0] * len(EVENT_TYPES)
        for indices in active:
            bits[indices["event_type"]] = 1
        targets.event_types.append(bits)
        primary = active[0] if active else None
        targets.subject.append(primary["subject"] if primary else NO_EVENT)
        targets.object.append(primary["object"] if primary else NO_EVENT)
        targets.scene.append(primary["scene"] if primary else default_scene)
    return targets


def row_frame_targets(row: Mapping, frame_times: Sequence[float]) -> FrameTargets:
    """`frame_targets` of a training row: its `events`; its video scene `video_scene` (what `sherlock train` keeps of
    the row), else `source["scene"]` (the synthetic set's), when it has one."""
    source = row.get("source")
    scene = row.get("video_scene") or (source.get("scene") if isinstance(source, Mapping) else None)
    return frame_targets(row.get("events"), frame_times, video_scene=scene or None)


def as_tensors(targets: Sequence[FrameTargets]) -> dict:
    """A batch of targets as tensors: `frame_event_types` (batch, frames, types) float, `frame_subject`,
    `frame_object`, `frame_scene` (batch, frames) long."""
    import torch

    return {
        "frame_event_types": torch.tensor([item.event_types for item in targets], dtype=torch.float32),
        "frame_subject": torch.tensor([item.subject for item in targets], dtype=torch.long),
        "frame_object": torch.tensor([item.object for item in targets], dtype=torch.long),
        "frame_scene": torch.tensor([item.scene for item in targets], dtype=torch.long),
    }


__all__ = [
    "IGNORE_INDEX",
    "NO_EVENT",
    "NUM_ENTITY_CLASSES",
    "FrameTargets",
    "as_tensors",
    "frame_targets",
    "row_frame_targets",
]
