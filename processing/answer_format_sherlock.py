# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""`format_events`: events written in the canonical answer format (strict; the training target).

Part of the answer format of `events_sherlock` (which re-exports `format_events`). Ships to the Hub as remote code.
"""

import math
from collections.abc import Mapping

from .abnormal_event_sherlock import (
    ANSWER_LINE_FORMAT,
    NO_EVENT_ANSWER,
    QUADRUPLE_FIELDS,
    VOCABULARIES,
    AbnormalEvent,
)


def _checked_time(value, name, index):
    if value is None:
        raise ValueError(f"Event {index}: {name} is missing (None); a training target needs its time span.")
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ValueError(f"Event {index}: {name} must be a number of seconds, got {value!r}.")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"Event {index}: {name} must be a finite, non-negative number of seconds, got {value!r}.")
    return number + 0.0  # -0.0 -> 0.0


def format_events(events):
    """Write events in the canonical answer format (the training target).

    One line per event, `ANSWER_LINE_FORMAT`, sorted by start then end (stable for ties); exactly
    `NO_EVENT_ANSWER` (`"No abnormal event."`) when there is none. Strict: every quadruple field must be a
    canonical vocabulary entry and times must be finite, non-negative, with `end >= start`.

    Args:
        events (`Iterable[AbnormalEvent | Mapping]`): the events; a mapping (e.g. an M-VAE `events` entry) is read
            through `AbnormalEvent.from_dict`.

    Returns:
        `str`: the answer, lines joined by `"\\n"`, no trailing newline.

    Raises:
        `ValueError`: a quadruple field missing or not canonical (the message names the field and the value), a
            missing (None), negative or non-finite time, or `end < start`.
        `TypeError`: an item that is neither an `AbnormalEvent` nor a mapping.

    Example:

        >>> print(format_events([
        ...     AbnormalEvent(40.5, 52.0, "man", "Fighting", "man", "Street"),
        ...     AbnormalEvent(23.0, 25.0, "people", "Theft", "car", "Street"),
        ... ]))
        23.0-25.0s: (people, Theft, car, Street)
        40.5-52.0s: (man, Fighting, man, Street)
        >>> format_events([])
        'No abnormal event.'
        >>> format_events([AbnormalEvent(1.0, 2.0, "people", "steal", "car", "Street")])
        Traceback (most recent call last):
        ...
        ValueError: Event 0: event_type 'steal' is not a canonical event_type; expected one of ...
    """
    checked = []
    for index, event in enumerate(events):
        if isinstance(event, Mapping):
            missing = [key for key in ("start", "end") if key not in event]
            if missing:
                raise ValueError(f"Event {index}: {' and '.join(missing)} missing in {dict(event)!r}.")
            event = AbnormalEvent.from_dict(event)
        elif not isinstance(event, AbnormalEvent):
            raise TypeError(f"Event {index}: expected an AbnormalEvent or a mapping, got {type(event).__name__}.")
        start = _checked_time(event.start, "start", index)
        end = _checked_time(event.end, "end", index)
        if end < start:
            raise ValueError(f"Event {index}: end ({end}) is before start ({start}).")
        for name in QUADRUPLE_FIELDS:
            value = getattr(event, name)
            if value is None:
                raise ValueError(f"Event {index}: {name} is missing (None); a training target needs all four fields.")
            if value not in VOCABULARIES[name]:
                allowed = ", ".join(VOCABULARIES[name])
                raise ValueError(
                    f"Event {index}: {name} {value!r} is not a canonical {name}; expected one of {allowed}."
                )
        checked.append((start, end, event))
    if not checked:
        return NO_EVENT_ANSWER
    checked.sort(key=lambda item: (item[0], item[1]))
    return "\n".join(
        ANSWER_LINE_FORMAT.format(
            start=start,
            end=end,
            subject=event.subject,
            event_type=event.event_type,
            object=event.object,
            scene=event.scene,
        )
        for start, end, event in checked
    )


__all__ = ["format_events"]
