# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""`post_process_events`: abnormal events read from a generated answer (tolerant; never raises on a `str`).

Cleans the answer (chat markers, stop and special tokens, markdown), then reads it through the JSON route
(`answer_json_sherlock`) or else the regex route (`answer_text_sherlock`), and clamps / normalises what it read into
`AbnormalEvent`s. `events_sherlock` re-exports `post_process_events`. Ships to the Hub as remote code.
"""

import math
import re
import unicodedata

from transformers.utils import logging

from .abnormal_event_sherlock import NORMALIZERS, QUADRUPLE_FIELDS, AbnormalEvent
from .answer_json_sherlock import events_from_json
from .answer_spans_sherlock import clean_whitespace
from .answer_text_sherlock import events_from_text


logger = logging.get_logger(__name__)

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
    return clean_whitespace(text)


def _strip_markdown(text):
    text = re.sub(r"```[A-Za-z]*", "\n", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return clean_whitespace(_BULLET.sub("", clean_whitespace(text)))


def post_process_events(text, duration=None, scores=None, *, keep_events_without_times=False):
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
      fighting`; `..., where a man steals a car` -> Theft); subject, object and scene then stay `None`. A quadruple
      that no span takes (the answer gave it no time) is an event without times when it names a readable event type.
    - JSON lists / objects (also inside code fences, also Python literals with single quotes): keys `start` / `end`
      (also `start_time`, `begin`, ...) or a span under `timestamps` / `timestamp` / `time` / `span` / `segment`,
      fields under `subject`, `event_type` / `event` / `type` / `category`, `object`, `scene` / `location`, or a
      `quadruple` list; nested lists (`{"events": [...]}`) are walked. An object without times that names a readable
      event type (and holds no event) is an event without times. When the JSON holds events, the rest of the text is
      ignored.
    - noise: prose before / after, markdown (bold, bullets, numbering), special and stop tokens (`</s>`,
      `<|im_end|>`, ...); in a decoded chat only the text after the last `ASSISTANT:` is read, up to the first stop
      token or `USER:`.

    Fields are mapped onto the canonical vocabularies with `normalize_entity` / `normalize_event_type` /
    `normalize_scene` (unknown words -> `None`). An answer that starts with "No abnormal event" (or "no abnormal
    events", "there is no abnormal event", "nothing abnormal", "no anomaly") gives `[]`.

    Times: a reversed span is swapped; times are clamped to `[0, duration]` (to `[0, inf)` without `duration`); a
    span that clamping leaves empty (it lies outside the video) and a span with an unreadable time are not valid (a
    zero-length span inside the video is). A unitless pair in brackets (`[0.0, 0.12]`, JSON `[0.1, 0.3]`) whose two
    values are both <= 1 is read as fractions of `duration` when `duration` is given, else as seconds.

    Events without a valid time span (no span, an unreadable one, one outside the video) but with at least one
    readable quadruple field: with `keep_events_without_times=True` they are kept with `start = end = None`, after
    the events with times (the extraction metrics score quadruples, and the localisation metrics count them apart);
    by default they are dropped, and the first drop of the process logs a warning. An event with neither valid times
    nor a readable field is always dropped.

    Args:
        text (`str`): the generated answer (decoded, with or without the prompt and special tokens).
        duration (`float`, *optional*): the video's duration in seconds, for clamping and fraction spans.
        scores (`Sequence[float]`, *optional*): one score per event in generation order: `scores[i]` goes to the
            i-th event read from the text (text order; JSON order on the JSON route), counting events that are later
            dropped, so the pairing depends neither on `duration` nor on `keep_events_without_times`. Missing scores
            are `None`, extra ones are ignored (a warning is logged on a count mismatch). Without `scores` every score
            is `None`.
        keep_events_without_times (`bool`, *optional*, defaults to `False`): keep the events that have a readable
            quadruple field but no valid time span, with `start = end = None` (see above).

    Returns:
        `list[AbnormalEvent]`: the events with times sorted by start, then end, then those without times (stable:
        ties keep generation order).

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
        >>> post_process_events("(people, steal, car, street)", keep_events_without_times=True)
        [AbnormalEvent(start=None, end=None, subject='people', event_type='Theft', object='car', scene='Street', score=None)]
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
        raw_events = events_from_json(cleaned) or events_from_text(_strip_markdown(cleaned))
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
        quadruple = {name: NORMALIZERS[name](raw.fields.get(name)) for name in QUADRUPLE_FIELDS}
        span = _valid_span(raw, duration)
        if span is None:
            if any(value is not None for value in quadruple.values()):
                if not keep_events_without_times:
                    logger.warning_once(
                        "post_process_events dropped an event without a valid time span (none, unreadable or outside "
                        "the video); pass keep_events_without_times=True to keep such events (start and end None)."
                    )
                    continue
                events.append(AbnormalEvent(start=None, end=None, score=score, **quadruple))
            continue
        events.append(AbnormalEvent(start=span[0], end=span[1], score=score, **quadruple))
    events.sort(key=lambda event: (0, event.start, event.end) if event.has_span else (1, 0.0, 0.0))
    return events


def _valid_span(raw, duration):
    """`(start, end)` of a raw event: fractions scaled, swapped if reversed, clamped to the video; None when a time
    is unreadable or the span lies outside the video."""
    start, end = raw.start, raw.end
    if start is None or end is None or not (math.isfinite(start) and math.isfinite(end)):
        return None
    if raw.fraction_ok and duration is not None and max(start, end) <= 1:
        start, end = start * duration, end * duration
    if end < start:
        start, end = end, start
    upper = math.inf if duration is None else duration
    clamped_start, clamped_end = min(max(start, 0.0), upper) + 0.0, min(max(end, 0.0), upper) + 0.0
    if clamped_end <= clamped_start and (clamped_start, clamped_end) != (start, end):
        return None
    return clamped_start, clamped_end


__all__ = ["post_process_events"]
