# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The abnormal event record (`AbnormalEvent`) and the constants of Sherlock's answer format.

Part of the answer format of `events_sherlock` (which re-exports the public names). Ships to the Hub as remote code:
standard library, transformers and single-dot siblings only.
"""

from dataclasses import asdict, dataclass, fields

from .vocabulary_sherlock import (
    ENTITIES,
    EVENT_TYPES,
    SCENES,
    normalize_entity,
    normalize_event_type,
    normalize_scene,
)


NO_EVENT_ANSWER = "No abnormal event."
"""The whole answer for a video without abnormal event."""

ANSWER_LINE_FORMAT = "{start:.1f}-{end:.1f}s: ({subject}, {event_type}, {object}, {scene})"
"""One line of the canonical answer: `ANSWER_LINE_FORMAT.format(**event.to_dict())` -> `23.0-25.0s: (people, Theft,
car, Street)`. Times in seconds with one decimal; subject / object from `ENTITIES`, event type from `EVENT_TYPES`,
scene from `SCENES`."""

QUADRUPLE_FIELDS = ("subject", "event_type", "object", "scene")
VOCABULARIES = {"subject": ENTITIES, "event_type": EVENT_TYPES, "object": ENTITIES, "scene": SCENES}
NORMALIZERS = {
    "subject": normalize_entity,
    "event_type": normalize_event_type,
    "object": normalize_entity,
    "scene": normalize_scene,
}


@dataclass
class AbnormalEvent:
    """One abnormal event of a video: a time span and the quadruple (subject, event type, object, scene).

    Args:
        start (`float`): start time in seconds; `None` for a predicted event whose answer gave no valid time span
            (`post_process_events(..., keep_events_without_times=True)`), and then `end` is `None` too.
        end (`float`): end time in seconds (`end >= start`), or `None` with `start`.
        subject (`str`, *optional*): canonical entity (`ENTITIES`) that acts, e.g. `"people"`.
        event_type (`str`, *optional*): canonical event type (`EVENT_TYPES`), e.g. `"Theft"`.
        object (`str`, *optional*): canonical entity acted upon, `"none"` when the event has no object.
        scene (`str`, *optional*): canonical scene (`SCENES`), e.g. `"Street"`.
        score (`float`, *optional*): confidence of a predicted event (e.g. from token log-probabilities).

    Example:

        >>> event = AbnormalEvent(23.0, 25.0, "people", "Theft", "car", "Street")
        >>> event.quadruple
        ('people', 'Theft', 'car', 'Street')
        >>> event.to_dict()["event_type"]
        'Theft'
        >>> event.has_span, AbnormalEvent(None, None, "people", "Theft", "car", "Street").has_span
        (True, False)
    """

    start: float | None
    end: float | None
    subject: str | None = None
    event_type: str | None = None
    object: str | None = None
    scene: str | None = None
    score: float | None = None

    @property
    def quadruple(self):
        """`(subject, event_type, object, scene)`."""
        return (self.subject, self.event_type, self.object, self.scene)

    @property
    def has_span(self):
        """Whether the event has its time span (both `start` and `end`), as `EvalEvent.has_span` of the metrics."""
        return self.start is not None and self.end is not None

    def to_dict(self):
        """All fields as a plain `dict` (start, end, subject, event_type, object, scene, score).

        Example:

            >>> AbnormalEvent(1.0, 2.0).to_dict()
            {'start': 1.0, 'end': 2.0, 'subject': None, 'event_type': None, 'object': None, 'scene': None, 'score': None}
        """
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Build an event from a mapping with (a subset of) the field names; other keys (e.g. of a dataset row) are
        ignored.

        Example:

            >>> AbnormalEvent.from_dict({"start": 1, "end": 2, "event_type": "Fire", "extra": 0}).event_type
            'Fire'
        """
        names = {field.name for field in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


__all__ = [
    "ANSWER_LINE_FORMAT",
    "NORMALIZERS",
    "NO_EVENT_ANSWER",
    "QUADRUPLE_FIELDS",
    "VOCABULARIES",
    "AbnormalEvent",
]
