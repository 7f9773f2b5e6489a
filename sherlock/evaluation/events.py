"""The events the metrics read: gold and predicted events of each video, as one small record type.

Every metric of `sherlock.evaluation` takes `EventsByVideo` mappings, `{video_id: [EvalEvent, ...]}`, one for the
gold events and one for the predictions, so that any system's outputs (Sherlock's, another Video-LLM's, a file) are
scored by the same code. `as_events_by_video` builds them from dataset rows, prediction-file records,
`AbnormalEvent`s or plain dicts.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


ELEMENTS = ("subject", "event_type", "object", "scene")
JUDGE_TARGETS = (*ELEMENTS, "quadruple")
"""What the judges score (`judges.py`): each element, and the quadruple as one string."""


@dataclass(frozen=True)
class EvalEvent:
    """One event as the metrics see it. Every field may be missing (`None`): a prediction without times (only a
    quadruple), or a time span without a quadruple (most Video-LLMs' localisation answers).

    Args:
        start, end (`float`, *optional*): the span in seconds (`end >= start` when both are given).
        subject, event_type, object, scene (`str`, *optional*): the quadruple, canonical names.
        score (`float`, *optional*): the confidence of a predicted event (ranking for mAP).
    """

    start: float | None = None
    end: float | None = None
    subject: str | None = None
    event_type: str | None = None
    object: str | None = None
    scene: str | None = None
    score: float | None = None

    @property
    def has_span(self) -> bool:
        """Whether both times are given."""
        return self.start is not None and self.end is not None

    @property
    def quadruple(self) -> tuple:
        """`(subject, event_type, object, scene)`."""
        return (self.subject, self.event_type, self.object, self.scene)


EventsByVideo = Mapping[str, Sequence[EvalEvent]]


def as_event(item) -> EvalEvent:
    """An `EvalEvent` from an `EvalEvent`, an `AbnormalEvent` (or any object with the same attributes) or a dict.

    Raises:
        `ValueError` naming the field for a time that is not a number or an `end` before `start`.
    """
    if isinstance(item, EvalEvent):
        return item
    get = item.get if isinstance(item, Mapping) else (lambda name, default=None: getattr(item, name, default))
    fields = {name: get(name, None) for name in ("start", "end", *ELEMENTS, "score")}
    for name in ("start", "end", "score"):
        value = fields[name]
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`{name}` must be a number or null, got {value!r}.")
            fields[name] = float(value)
    if fields["start"] is not None and fields["end"] is not None and fields["end"] < fields["start"]:
        raise ValueError(f"`end` ({fields['end']}) is before `start` ({fields['start']}).")
    for name in ELEMENTS:
        if fields[name] is not None and not isinstance(fields[name], str):
            raise ValueError(f"`{name}` must be a string or null, got {fields[name]!r}.")
    return EvalEvent(**fields)


def as_events_by_video(mapping: Mapping[str, Iterable]) -> dict[str, list[EvalEvent]]:
    """`{video_id: [EvalEvent, ...]}` from `{video_id: iterable of events}` (see `as_event`)."""
    return {str(video_id): [as_event(item) for item in events] for video_id, events in mapping.items()}


__all__ = ["ELEMENTS", "JUDGE_TARGETS", "EvalEvent", "EventsByVideo", "as_event", "as_events_by_video"]
