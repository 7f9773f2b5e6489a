# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""Abnormal events and Sherlock's answer format: `format_events` (strict, for training targets) and
`post_process_events` (tolerant, for generations).

The canonical answer has one event per line, sorted by start time:

    23.0-25.0s: (people, Theft, car, Street)
    40.5-52.0s: (man, Fighting, man, Street)

or exactly `No abnormal event.`. The quadruple fields use the canonical vocabularies of `vocabulary_sherlock`.

This file ships to the Hub as remote code: it imports only the standard library, transformers and its single-dot
sibling `vocabulary_sherlock`.
"""

import ast
import bisect
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from transformers.utils import logging

from .vocabulary_sherlock import (
    ENTITIES,
    EVENT_TYPES,
    SCENES,
    normalize_entity,
    normalize_event_type,
    normalize_scene,
)


logger = logging.get_logger(__name__)

NO_EVENT_ANSWER = "No abnormal event."
"""The whole answer for a video without abnormal event."""

ANSWER_LINE_FORMAT = "{start:.1f}-{end:.1f}s: ({subject}, {event_type}, {object}, {scene})"
"""One line of the canonical answer: `ANSWER_LINE_FORMAT.format(**event.to_dict())` -> `23.0-25.0s: (people, Theft,
car, Street)`. Times in seconds with one decimal; subject / object from `ENTITIES`, event type from `EVENT_TYPES`,
scene from `SCENES`."""

_QUADRUPLE_FIELDS = ("subject", "event_type", "object", "scene")
_VOCABULARIES = {"subject": ENTITIES, "event_type": EVENT_TYPES, "object": ENTITIES, "scene": SCENES}
_NORMALIZERS = {
    "subject": normalize_entity,
    "event_type": normalize_event_type,
    "object": normalize_entity,
    "scene": normalize_scene,
}


@dataclass
class AbnormalEvent:
    """One abnormal event of a video: a time span and the quadruple (subject, event type, object, scene).

    Args:
        start (`float`): start time in seconds.
        end (`float`): end time in seconds (`end >= start`).
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
    """

    start: float
    end: float
    subject: str | None = None
    event_type: str | None = None
    object: str | None = None
    scene: str | None = None
    score: float | None = None

    @property
    def quadruple(self):
        """`(subject, event_type, object, scene)`."""
        return (self.subject, self.event_type, self.object, self.scene)

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


# ---------------------------------------------------------------------------------------------------------------------
# Formatting (strict)
# ---------------------------------------------------------------------------------------------------------------------


def _checked_time(value, name, index):
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
            negative / non-finite time, or `end < start`.
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
        for name in _QUADRUPLE_FIELDS:
            value = getattr(event, name)
            if value is None:
                raise ValueError(f"Event {index}: {name} is missing (None); a training target needs all four fields.")
            if value not in _VOCABULARIES[name]:
                allowed = ", ".join(_VOCABULARIES[name])
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


# ---------------------------------------------------------------------------------------------------------------------
# Parsing (tolerant)
# ---------------------------------------------------------------------------------------------------------------------

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
_CLOCK = r"[0-9]{1,3}:[0-9]{2}(?::[0-9]{2})?(?:\.[0-9]+)?"
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?)\b"
_TIME = rf"(?:{_CLOCK}|{_NUMBER})(?:\s?{_UNIT})?"
_TIME_VALUE = re.compile(rf"(?P<clock>{_CLOCK})|(?P<number>{_NUMBER})\s?(?P<unit>{_UNIT})?", re.IGNORECASE)
_SEPARATOR = r"-|–|—|‒|−|~|->|→|\bto\b|\buntil\b|\btill\b|\bthrough\b|\band\b"

# `from 23 to 25 seconds`, `between 23s and 25s`, `23-25s`, `00:23-00:25`, `0:23 to 1:05`, `23 – 25 s`.
_GENERIC_SPAN = re.compile(
    rf"(?:(?P<prefix>\b(?:from|between|seconds?|secs?)\s)\s?)?(?<![\w.:])(?P<t1>{_TIME})\s?(?P<sep>{_SEPARATOR})\s?"
    rf"(?P<t2>{_TIME})(?![0-9])",
    re.IGNORECASE,
)
# `[0.0, 0.12]`, `(23.0, 25.0)`, `{23s, 25s, (people, steal, car, street)}`.
_BRACKET_SPAN = re.compile(
    rf"(?P<open>[\[({{<])\s?[\"']?(?P<t1>{_TIME})[\"']?\s?,\s?[\"']?(?P<t2>{_TIME})[\"']?\s?(?=[\])}}>,])",
    re.IGNORECASE,
)
# `start: 23, end: 25`, `start time 23s, end time 25s`, `"start": 23, "end": 25` (also in broken JSON).
_KEYED_SPAN = re.compile(
    rf"\bstart(?:ing)?(?:[ _-]?time)?[\"']?\s?(?:[:=]|\bis\b|\bat\b)?\s?[\"']?(?P<t1>{_TIME})[\"']?\s?[,;]?\s?"
    rf"(?:and\s)?[\"']?\bend(?:ing)?(?:[ _-]?time)?[\"']?\s?(?:[:=]|\bis\b|\bat\b)?\s?[\"']?(?P<t2>{_TIME})",
    re.IGNORECASE,
)

_ASSISTANT = re.compile(r"(?:\bassistant\s*:|<\|im_start\|>\s*assistant\b|\[/INST\])", re.IGNORECASE)
_STOP = re.compile(
    r"</s>|<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|end\|>|<eos>|<end_of_turn>|<\|im_start\|>|\bUSER\s*:"
    r"|\bHuman\s*:|\[INST\]",
    re.IGNORECASE,
)
_SPECIAL_TOKEN = re.compile(r"<\|[^|<>\n]{0,40}\|>|</?s>|<unk>|<pad>|<video>|<image>|<br\s*/?>", re.IGNORECASE)
_NO_EVENT = re.compile(
    r"^\W*(?:answer\W*)?(?:(?:there\s+(?:is|are|was|were)\s+)?(?:no|not\s+any)\s+(?:abnormal|anomalous|unusual)\s+"
    r"(?:events?|activit(?:y|ies)|behaviou?rs?|incidents?)\b|no\s+anomal(?:y|ies)\b"
    r"|nothing\s+(?:abnormal|anomalous|unusual)\b)",
    re.IGNORECASE,
)
_BULLET = re.compile(r"^[ \t]*(?:[-*•+>]|#{1,6}|\d{1,3}[.)]|\(\d{1,3}\))[ \t]+", re.MULTILINE)
_GROUP = re.compile(r"[(\[]([^()\[\]\n]*)[)\]]")
_FIELD_SPLIT = re.compile(r"\s*[,;|]\s*")
_KEY_VALUE = re.compile(
    r"(?<![\w])(?P<key>subject|event[ _-]?type|type of event|event|type|object|scene|location|place|setting)"
    r"[\"'*]*\s?[:=]\s?[\"']?(?P<value>[^,;\n\"'{}\[\]()]+)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.!?;](?![0-9])")
_LEADING_SEPARATORS = " \t:,-–—=>|)]}\"'"
_TRAILING_SEPARATORS = " \t.;,:)]}\"'"
_JSON_START = re.compile(r"[\[{]\s*[\"'{\[]")
_MAX_LITERAL_CHARS = 20_000
_MAX_LITERAL_ATTEMPTS = 32
_MAX_JSON_FAILURES = 256

_KEY_TO_FIELD = {"subject": "subject", "object": "object", "scene": "scene", "location": "scene", "place": "scene"}
_KEY_TO_FIELD.update({"setting": "scene", "eventtype": "event_type", "typeofevent": "event_type"})
_KEY_TO_FIELD.update({"event": "event_type", "type": "event_type"})

# JSON keys (lower case, without spaces, underscores and dashes), in order of preference.
_JSON_START_KEYS = ("start", "starttime", "startsec", "startseconds", "begin", "begintime", "from", "startts")
_JSON_END_KEYS = ("end", "endtime", "endsec", "endseconds", "stop", "finish", "to", "endts")
_JSON_SPAN_KEYS = (
    "timestamps", "timestamp", "time", "times", "span", "segment", "interval", "timespan", "timerange",
    "timeinterval", "timesegment", "period", "moment", "window",
)  # fmt: skip
_JSON_FIELD_KEYS = {
    "subject": ("subject", "subj", "sub", "actor", "agent", "who"),
    "event_type": (
        "eventtype", "event", "type", "category", "class", "label", "anomaly", "anomalytype", "abnormalevent",
        "abnormaleventtype", "eventcategory",
    ),
    "object": ("object", "obj", "target"),
    "scene": ("scene", "location", "place", "setting", "environment", "where"),
}  # fmt: skip
_JSON_QUADRUPLE_KEYS = ("quadruple", "quadruplet", "quad", "tuple")


@dataclass
class _RawEvent:
    """An event as read, before clamping: times may be None (unreadable), fields are raw strings."""

    start: float | None
    end: float | None
    fields: dict
    fraction_ok: bool = False  # a unitless bracketed pair, may be fractions of the duration


def _parse_time(text, default_unit=None):
    """`"23"`, `"23.5s"`, `"00:23"`, `"1:02:03"`, `"2 min"` -> seconds, or None; seconds / minutes >= 60 in a clock
    time are unreadable."""
    match = _TIME_VALUE.fullmatch(text.strip())
    if match is None:
        return None
    if match.group("clock"):
        parts = match.group("clock").split(":")
        try:
            values = [float(part) for part in parts]
        except ValueError:
            return None
        if any(value >= 60 for value in values[1:]):
            return None
        seconds = 0.0
        for value in values:
            seconds = seconds * 60 + value
        return seconds
    unit = (match.group("unit") or default_unit or "s").lower()
    value = float(match.group("number"))
    return value * 60 if unit.startswith("m") else value


def _unit_of(text):
    match = _TIME_VALUE.fullmatch(text.strip())
    if match is None or match.group("clock"):
        return None
    return match.group("unit")


def _span_values(t1, t2):
    """Both times of a span in seconds; a unit written only on the second applies to the first (`2-3 min`)."""
    unit1, unit2 = _unit_of(t1), _unit_of(t2)
    return _parse_time(t1, default_unit=unit2), _parse_time(t2, default_unit=unit1)


@dataclass
class _Span:
    start: int  # character positions in the cleaned text
    end: int
    t1: str
    t2: str
    fraction_ok: bool


def _find_spans(text):
    """All time spans of `text`, in order, without overlaps."""
    found = []
    for match in _KEYED_SPAN.finditer(text):
        found.append((match.start(), match.end(), 0, match.group("t1"), match.group("t2"), False))
    for match in _BRACKET_SPAN.finditer(text):
        unitless = not any(_unit_of(t) or ":" in t for t in (match.group("t1"), match.group("t2")))
        found.append((match.start(), match.end(), 1, match.group("t1"), match.group("t2"), unitless))
    position = 0
    while True:
        match = _GENERIC_SPAN.search(text, position)
        if match is None:
            break
        t1, t2, separator = match.group("t1"), match.group("t2"), match.group("sep").lower()
        has_unit = any(_unit_of(t) or ":" in t for t in (t1, t2))
        # whitespace runs are single characters here, so a few characters of context are enough
        before = text[max(0, match.start("t1") - 3) : match.start("t1")].rstrip(" ")
        after = text[match.end() : match.end() + 3].lstrip(" ")
        bracketed = before.endswith(("[", "(", "{")) and after.startswith(("]", ")", "}"))
        lead = text[max(0, match.start() - 2) : match.start()].rstrip(" ")
        labelled = (lead == "" or lead.endswith("\n")) and after.startswith(":")  # "23-25: ..." opens its line
        prefix = (match.group("prefix") or "").strip().lower()
        if separator == "and":
            accepted = prefix == "between"
        else:
            accepted = has_unit or bool(prefix) or bracketed or labelled
        if accepted:
            found.append((match.start(), match.end(), 2, t1, t2, bracketed and not has_unit))
            position = match.end()
        else:
            position = match.start("t2")
    found.sort(key=lambda item: (item[0], item[2], -item[1]))
    spans, last_end = [], -1
    for start, end, _, t1, t2, fraction_ok in found:
        if start >= last_end:
            spans.append(_Span(start, end, t1, t2, fraction_ok))
            last_end = end
    return spans


def _fields_from_values(values):
    """Quadruple fields from 3 or 4 positional values; a `key: value` item goes to its key's field."""
    names = _QUADRUPLE_FIELDS if len(values) == 4 else ("subject", "event_type", "object")
    result, keyed = {}, {}
    for name, value in zip(names, values):
        match = _KEY_VALUE.fullmatch(value.strip())
        if match is not None:
            keyed[_KEY_TO_FIELD[re.sub(r"[\s_-]", "", match.group("key").lower())]] = match.group("value").strip()
        else:
            result[name] = value
    result.update(keyed)
    return result


def _fields_from_tuple_text(inner, strict):
    """Fields from the inside of a bracket group or a comma-separated label, or None when it is no quadruple.

    A group needs 3 or 4 non-empty, non-time fields; a 3-field group (and, with `strict`, any group) also needs a
    readable event type, so that prose such as "(a man, a woman and a child)" is not a quadruple."""
    values = [value.strip(" \"'*`") for value in _FIELD_SPLIT.split(inner.strip())]
    if len(values) not in (3, 4) or not all(values) or any(len(value) > 80 for value in values):
        return None
    if any(_TIME_VALUE.fullmatch(value) for value in values):
        return None
    result = _fields_from_values(values)
    if (strict or len(values) == 3) and normalize_event_type(result.get("event_type")) is None:
        return None
    return result


@dataclass
class _Candidate:
    start: int
    end: int
    line: int
    fields: dict


def _find_candidates(text, spans, line_starts):
    """Quadruple candidates: bracket groups with 3-4 fields and `key: value` records, in order of position."""
    candidates = []
    span_starts, span_ends = [span.start for span in spans], [span.end for span in spans]

    def overlaps_span(start, end):  # spans are sorted and disjoint, so their ends are sorted too
        index = bisect.bisect_left(span_starts, end) - 1
        return index >= 0 and span_ends[index] > start

    group_starts, group_ends = [], []
    for match in _GROUP.finditer(text):
        if overlaps_span(match.start(), match.end()):
            continue  # a group that holds a time span (e.g. "(23.0, 25.0)") is no quadruple
        result = _fields_from_tuple_text(match.group(1), strict=False)
        if result is not None:
            group_starts.append(match.start())
            group_ends.append(match.end())
            line = bisect.bisect_right(line_starts, match.start()) - 1
            candidates.append(_Candidate(match.start(), match.end(), line, result))
    record, record_start, record_end = {}, 0, 0

    def close_record():
        if record and any(_NORMALIZERS[name](value) is not None for name, value in record.items()):
            line = bisect.bisect_right(line_starts, record_start) - 1
            candidates.append(_Candidate(record_start, record_end, line, dict(record)))

    for match in _KEY_VALUE.finditer(text):
        group_index = bisect.bisect_right(group_starts, match.start()) - 1
        if group_index >= 0 and match.start() < group_ends[group_index]:
            continue  # a "key: value" item inside a bracket group belongs to that group
        name = _KEY_TO_FIELD[re.sub(r"[\s_-]", "", match.group("key").lower())]
        span_between = bisect.bisect_left(span_starts, match.start()) > bisect.bisect_left(span_starts, record_end)
        if name in record or span_between:
            close_record()
            record = {}
        if not record:
            record_start = match.start()
        record[name] = match.group("value").strip()
        record_end = match.end()
    close_record()
    candidates.sort(key=lambda candidate: candidate.start)
    return candidates


def _strip_label(text):
    return text.strip(_LEADING_SEPARATORS).rstrip(_TRAILING_SEPARATORS).strip()


def _event_type_from_clauses(text, span, previous_end, next_start, line_start, line_end):
    """The event type named in the clause right after the span (else right before it, on the same line)."""
    after = text[span.end : min(next_start, line_end)]
    boundary = _CLAUSE_END.search(after)
    event_type = normalize_event_type(_strip_label(after[: boundary.start()] if boundary else after))
    if event_type is not None:
        return event_type
    before = text[max(previous_end, line_start) : span.start]
    boundaries = list(_CLAUSE_END.finditer(before))
    if boundaries:  # only the clause that leads into the span ("The theft occurs from ...", "Fighting: 00:12 ...")
        before = before[boundaries[-1].end() :]
    return normalize_event_type(_strip_label(before.rstrip(_TRAILING_SEPARATORS + "-–—")))


def _events_from_text(text):
    """The regex route: spans, then the quadruple that belongs to each."""
    line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
    spans = _find_spans(text)
    if not spans:
        return []
    candidates = _find_candidates(text, spans, line_starts)
    candidate_starts = [candidate.start for candidate in candidates]
    used = [False] * len(candidates)
    assigned = [None] * len(spans)

    def line_of(position):
        return bisect.bisect_right(line_starts, position) - 1

    def line_end_of(position):
        end = text.find("\n", position)
        return len(text) if end < 0 else end

    bounds = []
    for index in range(len(spans)):
        previous_end = spans[index - 1].end if index else 0
        next_start = spans[index + 1].start if index + 1 < len(spans) else len(text)
        bounds.append((previous_end, next_start))

    def take(index, candidate_indices):
        for candidate_index in candidate_indices:
            if not used[candidate_index]:
                used[candidate_index] = True
                assigned[index] = candidates[candidate_index].fields
                return True
        return False

    def after_candidates(index, same_line):
        span, (_, next_start) = spans[index], bounds[index]
        low, high = bisect.bisect_left(candidate_starts, span.end), bisect.bisect_left(candidate_starts, next_start)
        line = line_of(span.end)
        return [i for i in range(low, high) if not same_line or candidates[i].line == line]

    def before_candidates(index, same_line):
        span, (previous_end, _) = spans[index], bounds[index]
        low = bisect.bisect_left(candidate_starts, previous_end)
        high = bisect.bisect_left(candidate_starts, span.start)
        line = line_of(span.start)
        return [
            i
            for i in range(high - 1, low - 1, -1)
            if candidates[i].end <= span.start and (not same_line or candidates[i].line == line)
        ]

    # Pass 1: a quadruple on the span's own line, after it (the canonical layout), as a bracket group or as a
    # comma-separated label ("23-25s: people, Theft, car, Street"); else one before it on the same line.
    for index, span in enumerate(spans):
        if take(index, after_candidates(index, same_line=True)):
            continue
        label = _strip_label(text[span.end : min(bounds[index][1], line_end_of(span.end))])
        fields_ = _fields_from_tuple_text(label, strict=True) if label else None
        if fields_ is not None:
            assigned[index] = fields_
    for index in range(len(spans)):
        if assigned[index] is None:
            take(index, before_candidates(index, same_line=True))
    # Pass 2: quadruples on other lines; whether they come after or before their spans is read from the first ones.
    free_candidates = [candidate.start for candidate, is_used in zip(candidates, used) if not is_used]
    free_spans = [span.start for span, fields_ in zip(spans, assigned) if fields_ is None]
    prefer_before = bool(free_candidates and free_spans) and free_candidates[0] < free_spans[0]
    for index in range(len(spans)):
        if assigned[index] is None:
            after, before = after_candidates(index, False), before_candidates(index, False)
            take(index, before + after if prefer_before else after + before)
    # Pass 3: no quadruple; the event type may still be named next to the span ("00:12 - 00:18: fighting").
    raw_events = []
    for index, span in enumerate(spans):
        fields_ = assigned[index]
        if fields_ is None:
            line_start = line_starts[line_of(span.start)]
            event_type = _event_type_from_clauses(
                text, span, bounds[index][0], bounds[index][1], line_start, line_end_of(span.end)
            )
            fields_ = {"event_type": event_type} if event_type else {}
        start, end = _span_values(span.t1, span.t2)
        raw_events.append(_RawEvent(start, end, fields_, span.fraction_ok))
    return raw_events


# --- JSON route ------------------------------------------------------------------------------------------------------


def _json_key(key):
    return re.sub(r"[\s_\-]", "", key.lower()) if isinstance(key, str) else None


def _json_time(value):
    if isinstance(value, bool):
        return None, False
    if isinstance(value, (int, float)):
        return float(value), True
    if isinstance(value, str):
        return _parse_time(value), False
    return None, False


def _json_span(value):
    """A span value: `[a, b]`, `"23-25s"`, `"00:23 - 00:25"`; -> (start, end, fraction_ok) or None."""
    if isinstance(value, (list, tuple)) and len(value) == 2:
        (start, unitless1), (end, unitless2) = _json_time(value[0]), _json_time(value[1])
        if isinstance(value[0], str) and isinstance(value[1], str):
            start, end = _span_values(value[0], value[1])
        return start, end, unitless1 and unitless2
    if isinstance(value, str):
        text = _clean_whitespace(value)
        spans = _find_spans(text)
        if not spans and "-" in text:  # a bare "23-25" is a span when it is all the value says
            parts = text.split("-")
            if len(parts) == 2:
                start, end = _span_values(parts[0], parts[1])
                return start, end, False
        if spans:
            start, end = _span_values(spans[0].t1, spans[0].t2)
            return start, end, spans[0].fraction_ok
    return None


def _json_field(mapping, keys):
    for key in keys:
        value = mapping.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def _event_from_mapping(value):
    """A JSON object that has times is an event (possibly with unreadable times); else None."""
    mapping = {}
    for key, item in value.items():
        normalized = _json_key(key)
        if normalized is not None:
            mapping.setdefault(normalized, item)
    start_key = next((key for key in _JSON_START_KEYS if key in mapping), None)
    end_key = next((key for key in _JSON_END_KEYS if key in mapping), None)
    span_key = next((key for key in _JSON_SPAN_KEYS if key in mapping), None)
    if start_key is not None and end_key is not None:
        (start, _), (end, _) = _json_time(mapping[start_key]), _json_time(mapping[end_key])
        if isinstance(mapping[start_key], str) and isinstance(mapping[end_key], str):
            start, end = _span_values(mapping[start_key], mapping[end_key])
        span = (start, end, False)
    elif span_key is not None:
        span = _json_span(mapping[span_key]) or (None, None, False)
    else:
        return None
    result = {}
    quadruple_key = next((key for key in _JSON_QUADRUPLE_KEYS if key in mapping), None)
    if quadruple_key is not None:
        quadruple = mapping[quadruple_key]
        if isinstance(quadruple, (list, tuple)) and len(quadruple) in (3, 4):
            result = _fields_from_values([item if isinstance(item, str) else "" for item in quadruple])
        elif isinstance(quadruple, str):
            group = _GROUP.search(quadruple)
            result = _fields_from_tuple_text(group.group(1) if group else quadruple, strict=False) or {}
    for name, keys in _JSON_FIELD_KEYS.items():
        field_value = _json_field(mapping, keys)
        if field_value is not None:
            result[name] = field_value
    return _RawEvent(span[0], span[1], result, span[2])


def _event_from_sequence(value):
    """`[23, 25, "people", "Theft", "car", "Street"]` (two times then the quadruple) is an event; else None."""
    if not isinstance(value, list) or len(value) not in (5, 6):
        return None
    if not all(isinstance(item, str) for item in value[2:]):
        return None
    (start, unitless1), (end, unitless2) = _json_time(value[0]), _json_time(value[1])
    if start is None or end is None:
        return None
    return _RawEvent(start, end, _fields_from_values(value[2:]), unitless1 and unitless2)


def _walk_json(value, out, depth=0):
    if depth > 32:
        return
    if isinstance(value, dict):
        event = _event_from_mapping(value)
        if event is not None:
            out.append(event)
            return
        for item in value.values():
            _walk_json(item, out, depth + 1)
    elif isinstance(value, list):
        event = _event_from_sequence(value)
        if event is not None:
            out.append(event)
            return
        for item in value:
            _walk_json(item, out, depth + 1)


def _balanced_end(text, start):
    """Index after the bracket that closes `text[start]` (quotes respected), or None."""
    depth, quote, escaped = 0, None, False
    for index in range(start, min(len(text), start + _MAX_LITERAL_CHARS)):
        char = text[index]
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _events_from_json(text):
    """The JSON route: every JSON (or Python literal) list / object in the text; events in order of appearance."""
    decoder = json.JSONDecoder()
    events, position, literal_attempts, failures = [], 0, 0, 0
    for match in _JSON_START.finditer(text):
        if match.start() < position:
            continue
        if failures >= _MAX_JSON_FAILURES:  # pathological text ("[[[[..."): stay linear, the regex route follows
            break
        value, end = None, None
        try:
            value, end = decoder.raw_decode(text, match.start())
        except Exception:  # JSONDecodeError, RecursionError on pathological nesting
            failures += 1
            # A Python literal (single quotes) instead of JSON; a bounded number of tries keeps pathological text
            # (thousands of "{'") linear.
            if match.group().endswith("'") and literal_attempts < _MAX_LITERAL_ATTEMPTS:
                literal_attempts += 1
                end = _balanced_end(text, match.start())
            if end is not None:
                try:
                    value = ast.literal_eval(text[match.start() : end])
                except Exception:  # SyntaxError, ValueError, MemoryError, RecursionError
                    value, end = None, None
        if end is None:
            continue
        found = []
        _walk_json(value, found)
        if found:
            events.extend(found)
            position = end
    return events


# --- Cleaning and assembly -------------------------------------------------------------------------------------------


def _clean_whitespace(text):
    text = re.sub(r"[^\S\n]+", " ", text)
    return re.sub(r" ?\n[\s]*", "\n", text).strip()


def _clean_answer(text):
    """NFKC; the assistant's part of a decoded chat; up to the first stop token; no special tokens."""
    text = unicodedata.normalize("NFKC", text)
    markers = list(_ASSISTANT.finditer(text))
    if markers:
        text = text[markers[-1].end() :]
    for segment in _STOP.split(text):
        if segment.strip():
            text = segment
            break
    else:
        text = ""
    text = _SPECIAL_TOKEN.sub(" ", text)
    return _clean_whitespace(text)


def _strip_markdown(text):
    text = re.sub(r"```[A-Za-z]*", "\n", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return _clean_whitespace(_BULLET.sub("", _clean_whitespace(text)))


def post_process_events(text, duration=None, scores=None):
    """Read abnormal events from a generated answer; tolerant, never raises on a `str`.

    Reads the canonical format (`23.0-25.0s: (people, Theft, car, Street)`, one per line) and what Video-LLMs write
    instead:

    - time spans: `23-25s`, `23s-25s`, `23 – 25 s`, `from 23 to 25 seconds`, `between 23s and 25s`, `00:23-00:25`,
      `0:23 to 1:05` (mm:ss, h:mm:ss; a clock field >= 60 is unreadable), `2-3 min`, `[0.0, 0.12]`, `(23.0, 25.0)`,
      `{23s, 25s, (people, steal, car, street)}`, `start: 23, end: 25`. A bare `23-25` counts only inside brackets or
      as a line's label (`23-25: ...`), so dates and counts in prose are not read as spans.
    - quadruples: `(subject, event type, object, scene)` (or a 3-field `(subject, event type, object)`) in round or
      square brackets, a comma-separated label (`23-25s: people, Theft, car, Street`), or `subject: ..., event type:
      ..., object: ..., scene: ...` fields. Each goes to the span on its line (after it, else before it); quadruples
      on lines of their own go to the neighbouring span (after or before, following the layout of the first ones).
      Without a quadruple, an event type named in the clause next to the span is still read (`00:12 - 00:18:
      fighting`; `..., where a man steals a car` -> Theft); subject, object and scene then stay `None`.
    - JSON lists / objects (also inside code fences, also Python literals with single quotes): keys `start` / `end`
      (also `start_time`, `begin`, ...) or a span under `timestamps` / `timestamp` / `time` / `span` / `segment`,
      fields under `subject`, `event_type` / `event` / `type` / `category`, `object`, `scene` / `location`, or a
      `quadruple` list; nested lists (`{"events": [...]}`) are walked. When the JSON holds events, the rest of the
      text is ignored.
    - noise: prose before / after, markdown (bold, bullets, numbering), special and stop tokens (`</s>`,
      `<|im_end|>`, ...); in a decoded chat only the text after the last `ASSISTANT:` is read, up to the first stop
      token or `USER:`.

    Fields are mapped onto the canonical vocabularies with `normalize_entity` / `normalize_event_type` /
    `normalize_scene` (unknown words -> `None`). An answer that starts with "No abnormal event" (or "no abnormal
    events", "there is no abnormal event", "nothing abnormal", "no anomaly") gives `[]`.

    Times: a reversed span is swapped; times are clamped to `[0, duration]` (to `[0, inf)` without `duration`); a
    span that clamping leaves empty (it lies outside the video) and a span with an unreadable time are dropped (a
    zero-length span inside the video is kept). A unitless pair in brackets (`[0.0, 0.12]`, JSON `[0.1, 0.3]`) whose
    two values are both <= 1 is read as fractions of `duration` when `duration` is given, else as seconds.

    Args:
        text (`str`): the generated answer (decoded, with or without the prompt and special tokens).
        duration (`float`, *optional*): the video's duration in seconds, for clamping and fraction spans.
        scores (`Sequence[float]`, *optional*): one score per event in generation order: `scores[i]` goes to the
            i-th time span read from the text (text order; JSON order on the JSON route), counting spans that are
            later dropped, so the pairing does not depend on `duration`. Missing scores are `None`, extra ones are
            ignored (a warning is logged on a count mismatch). Without `scores` every score is `None`.

    Returns:
        `list[AbnormalEvent]`: sorted by start, then end (stable: ties keep generation order).

    Raises:
        `TypeError`: `text` is not a `str`.
        `ValueError`: `duration` is negative or not finite.

    Example:

        >>> post_process_events("23.0-25.0s: (people, Theft, car, Street)")
        [AbnormalEvent(start=23.0, end=25.0, subject='people', event_type='Theft', object='car', scene='Street', score=None)]
        >>> [e.quadruple for e in post_process_events("{23s, 25s, (people, steal, car, street)}")]
        [('people', 'Theft', 'car', 'Street')]
        >>> [(e.start, e.end) for e in post_process_events("It happens from 0:23 to 1:05.</s>")]
        [(23.0, 65.0)]
        >>> [(e.start, e.end) for e in post_process_events("[0.0, 0.12]", duration=50.0)]
        [(0.0, 6.0)]
        >>> [(e.start, e.end, e.score) for e in post_process_events("30-90s: fire", duration=60, scores=[0.9])]
        [(30.0, 60.0, 0.9)]
        >>> post_process_events("No abnormal event.")
        []
    """
    if not isinstance(text, str):
        raise TypeError(f"post_process_events expects the generated text as a str, got {type(text).__name__}.")
    if duration is not None:
        duration = float(duration)
        if not math.isfinite(duration) or duration < 0:
            raise ValueError(f"duration must be a finite, non-negative number of seconds, got {duration}.")
    if scores is not None:
        scores = list(scores)
    cleaned = _clean_answer(text)
    if _NO_EVENT.match(_strip_markdown(cleaned)):
        raw_events = []
    else:
        raw_events = _events_from_json(cleaned) or _events_from_text(_strip_markdown(cleaned))
    if scores is not None and len(scores) != len(raw_events):
        logger.warning(
            f"post_process_events got {len(scores)} scores for {len(raw_events)} events read from the text; "
            "scores are paired in order, missing ones are None."
        )
    events = []
    for index, raw in enumerate(raw_events):
        score = None
        if scores is not None and index < len(scores) and scores[index] is not None:
            score = float(scores[index])
        start, end = raw.start, raw.end
        if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)):
            continue
        if raw.fraction_ok and duration is not None and max(start, end) <= 1:
            start, end = start * duration, end * duration
        if end < start:
            start, end = end, start
        upper = math.inf if duration is None else duration
        clamped_start, clamped_end = min(max(start, 0.0), upper) + 0.0, min(max(end, 0.0), upper) + 0.0
        if clamped_end <= clamped_start and (clamped_start, clamped_end) != (start, end):
            continue
        quadruple = {name: _NORMALIZERS[name](raw.fields.get(name)) for name in _QUADRUPLE_FIELDS}
        events.append(AbnormalEvent(start=clamped_start, end=clamped_end, score=score, **quadruple))
    events.sort(key=lambda event: (event.start, event.end))
    return events


__all__ = ["ANSWER_LINE_FORMAT", "NO_EVENT_ANSWER", "AbnormalEvent", "format_events", "post_process_events"]
